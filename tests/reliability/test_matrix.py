"""Every tap through every fault the sandbox can produce.

An outcome counts when the sync completes with exactly the emulator's records (by primary key;
duplicates only as at-least-once delivery allows), or fails with a message that names the cause and
the setting to fix, with the state emitted before the failure letting the next run finish. Every
captured stderr and state is scanned for credentials, tokens and presigned query strings.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import pytest
from marketing_tapkit.sdk_private import STOP_GRACE_SECONDS

from tests.profiles import PROFILES, TapProfile
from tests.reliability import evergage_scenarios, vendor_scenarios
from tests.reliability.matrix import record_outcome
from tests.reliability.outcomes import assert_exact
from tests.support import VENV_BIN, Admin, TapRun, assert_no_secrets, discover, run_tap, select_streams


def prepared(profile: TapProfile, base_url: str, **overrides: t.Any) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """Config and a catalog selecting only the main stream (discovered before any fault is injected)."""
    config = {**profile.config(base_url), **overrides}
    return config, select_streams(discover(profile.tap, config), profile.main_stream)


def scan(profile: TapProfile, run: TapRun) -> None:
    assert_no_secrets(run.stderr, profile.secrets)
    assert_no_secrets(json.dumps(run.states), profile.secrets)


def assert_clear_failure(profile: TapProfile, run: TapRun, *phrases: str) -> str:
    assert run.returncode != 0, "the sync should have failed"
    for phrase in phrases:
        assert phrase in run.stderr, f"the failure does not say {phrase!r}:\n{run.stderr[-3000:]}"
    return "failed clearly"


def transient(fault: dict[str, t.Any], **config: t.Any) -> t.Callable[[TapProfile, str], str]:
    """A fault that a retry gets past: the sync must complete exactly."""

    def scenario(profile: TapProfile, base_url: str) -> str:
        config_, catalog = prepared(profile, base_url, **config)
        Admin(base_url).faults({**fault, "path": profile.data_path})
        run = run_tap(profile.tap, config_, catalog=catalog)
        scan(profile, run)
        outcome = assert_exact(profile, run, profile.emulator_settings)
        assert Admin(base_url).pending_faults() == [], "the fault was not hit"
        return outcome

    return scenario


def persistent_malformed_record(profile: TapProfile, base_url: str) -> str:
    config, catalog = prepared(profile, base_url, max_retries=1)
    Admin(base_url).faults({"kind": "corrupt", "after_bytes": 120, "payload": "@@@@", "times": -1,
                            "path": profile.data_path})
    run = run_tap(profile.tap, config, catalog=catalog)
    scan(profile, run)
    return assert_clear_failure(profile, run, *profile.malformed_says)


def wrong_credentials(profile: TapProfile, base_url: str) -> str:
    config, catalog = prepared(profile, base_url)
    run = run_tap(profile.tap, {**config, **profile.wrong_credentials}, catalog=catalog)
    scan(profile, run)
    assert "retrying" not in run.stderr, "a credential error is not worth retrying"
    return assert_clear_failure(profile, run, *profile.wrong_credentials_says)


def malformed_setting(profile: TapProfile, base_url: str) -> str:
    config = {**profile.config(base_url), **profile.bad_setting}
    run = run_tap(profile.tap, config)
    scan(profile, run)
    return assert_clear_failure(profile, run, *profile.bad_setting_says)


def missing_setting(profile: TapProfile, base_url: str) -> str:
    config = {k: v for k, v in profile.config(base_url).items() if k not in profile.wrong_credentials}
    run = run_tap(profile.tap, config)
    scan(profile, run)
    missing = next(iter(profile.wrong_credentials))
    return assert_clear_failure(profile, run, missing)


def stopped_and_resumed(sig: signal.Signals) -> t.Callable[[TapProfile, str], str]:
    """The tap alone stopped by `sig` mid-sync, re-run with the last STATE it emitted: nothing lost.

    SIGKILL gives the tap no say. SIGTERM (a deploy, `docker stop`, a scheduler's timeout aimed at the
    tap's process) must end it with exit code 143, never 0, having flushed every record it emitted
    (no line torn) and, last, a STATE that covers only those records.
    """

    def scenario(profile: TapProfile, base_url: str) -> str:
        config, catalog = prepared(profile, base_url)
        admin = Admin(base_url)
        if sig == signal.SIGKILL:
            admin.faults({"kind": "latency", "seconds": 0.3, "times": -1, "path": profile.data_path})
        else:
            # The first page comes quickly and the next ones are held: the signal finds records emitted
            # (in the writer's buffer) and a request in flight on a worker thread.
            quick = QUICK_PAGES_BEFORE_SIGTERM.get(profile.vendor, 1)
            admin.faults(
                {"kind": "latency", "seconds": 0.2, "times": quick, "path": profile.data_path},
                {"kind": "latency", "seconds": HELD_PAGE_SECONDS, "times": HELD_PAGES, "path": profile.data_path},
            )
        with tempfile.TemporaryDirectory() as tmp:
            paths = {name: Path(tmp) / f"{name}.json" for name in ("config", "catalog")}
            paths["config"].write_text(json.dumps(config))
            paths["catalog"].write_text(json.dumps(catalog))
            out_path, err_path = Path(tmp) / "out.jsonl", Path(tmp) / "err.log"
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                process = subprocess.Popen(
                    [str(VENV_BIN / profile.tap), "--config", str(paths["config"]), "--catalog", str(paths["catalog"])],
                    stdout=out, stderr=err,
                )
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and process.poll() is None and not (
                    _held_page_asked(admin) if sig != signal.SIGKILL else out_path.stat().st_size >= 2000
                ):
                    time.sleep(0.05)
                if sig != signal.SIGKILL:
                    time.sleep(0.5)  # the quick page's records reach the writer
                signalled_at = time.monotonic()
                process.send_signal(sig)
                process.wait(timeout=60)
                stopped_after = time.monotonic() - signalled_at
            stderr = err_path.read_text()
            lines = out_path.read_text().splitlines()
        assert process.returncode in (-sig, 128 + sig), f"the sync ended by itself, code {process.returncode}"
        if sig != signal.SIGKILL:
            assert process.returncode == 128 + sig, f"{sig.name} ended the tap with code {process.returncode}"
            assert f"Stopped by {sig.name}" in stderr, stderr[-3000:]
            assert stopped_after < STOP_GRACE_SECONDS + 3, f"the tap took {stopped_after:.1f} s to stop"
            torn = [line for line in lines if line.strip() and not _is_json(line)]
            assert not torn, f"{len(torn)} torn lines, the first: {torn[0][:200]}"
        messages = [json.loads(line) for line in lines if line.startswith('{"type"')]
        first = TapRun(process.returncode, messages, stderr)
        scan(profile, first)
        if sig != signal.SIGKILL:
            assert messages and messages[-1]["type"] == "STATE", "the tap stopped without a last STATE"
        Admin(base_url).clear_faults()
        second = run_tap(profile.tap, config, catalog=catalog, state=first.last_state or {})
        scan(profile, second)
        assert second.returncode == 0, second.stderr[-3000:]
        got = {profile.record_key(r) for r in first.records(profile.main_stream) + second.records(profile.main_stream)}
        expected = profile.expected_keys(profile.emulator_settings)
        assert got == expected, f"missing {len(expected - got)} after the resume"
        code = "" if sig == signal.SIGKILL else f"exit {process.returncode}, "
        return f"{code}resumed, {len(got)}/{len(expected)} rows"

    return scenario


#: Requests of the main stream answered quickly before the rest are held (Bloomreach's main stream is
#: one export request: held from the start).
QUICK_PAGES_BEFORE_SIGTERM = {"bloomreach": 0}
HELD_PAGES = 50
#: Longer than the tap's grace after a stop: a worker thread inside such a request must not hold it.
HELD_PAGE_SECONDS = STOP_GRACE_SECONDS + 5


def _held_page_asked(admin: Admin) -> bool:
    return any(f["times"] < HELD_PAGES for f in admin.pending_faults() if f["seconds"] == HELD_PAGE_SECONDS)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


SCENARIOS: dict[str, t.Callable[[TapProfile, str], str]] = {
    "429 storm + Retry-After": transient({"kind": "status", "status": 429, "retry_after": 1, "times": 3}),
    "5xx burst": transient({"kind": "status", "status": 503, "times": 3}),
    "dropped connection": transient({"kind": "drop", "after_bytes": 200, "times": 2}),
    "slow past request_timeout": transient({"kind": "latency", "seconds": 2.5, "times": 1}, request_timeout=1),
    "garbled page (once)": transient({"kind": "corrupt", "after_bytes": 120, "payload": "@@@@", "times": 1}),
    "malformed record (always)": persistent_malformed_record,
    "wrong credentials": wrong_credentials,
    "missing setting": missing_setting,
    "malformed setting": malformed_setting,
    "SIGKILL + resume": stopped_and_resumed(signal.SIGKILL),
    "SIGTERM to the tap + resume": stopped_and_resumed(signal.SIGTERM),
}

VENDOR_SCENARIOS: dict[str, dict[str, t.Callable[[TapProfile, str], str]]] = {
    "sitecore-cdp": vendor_scenarios.SITECORE,
    "cordial": vendor_scenarios.CORDIAL,
    "bloomreach": vendor_scenarios.BLOOMREACH,
    "evergage": evergage_scenarios.EVERGAGE,
}

CASES = [
    pytest.param(vendor, name, id=f"{vendor}-{name}")
    for vendor in sorted(PROFILES)
    for name in [*SCENARIOS, *VENDOR_SCENARIOS.get(vendor, {})]
]


@pytest.mark.parametrize(("vendor", "scenario"), CASES)
def test_fault(vendor: str, scenario: str, emulator) -> None:
    profile = PROFILES[vendor]
    server = emulator(vendor, **profile.emulator_settings)
    own = VENDOR_SCENARIOS.get(vendor, {})
    run_scenario = own.get(scenario) or SCENARIOS[scenario]
    order = list(SCENARIOS).index(scenario) if scenario in SCENARIOS else len(SCENARIOS) + list(own).index(scenario)
    try:
        outcome = run_scenario(profile, server.base_url)
    except AssertionError:
        record_outcome(vendor, scenario, "REGRESSED", order)
        raise
    record_outcome(vendor, scenario, outcome, order)
