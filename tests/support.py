"""What the tests share: running emulators, running taps as real processes, scanning for secrets.

Tests talk HTTP to real emulator servers and run the taps through their real command lines; nothing
here patches `requests`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sandbox import emulator_class
from sandbox.framework import Emulator, RunningEmulator

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


#: Every emulator the tests started, while it lives: the conftest fails a test whose requests or
#: responses the vendor's API file refused (`contract_violations`).
_STARTED: weakref.WeakSet[Emulator] = weakref.WeakSet()


def start_emulator(vendor: str, **settings: t.Any) -> RunningEmulator:
    """Start `vendor`'s emulator on a free loopback port (stop it with `.stop()`)."""
    emulator = emulator_class(vendor)(**settings)
    _STARTED.add(emulator)
    return RunningEmulator(emulator, port=0).start()


def contract_violations() -> list[str]:
    """What the vendors' API files refused since the last call, in every emulator the tests started."""
    return [str(v) for emulator in list(_STARTED) for v in emulator.take_contract_violations()]


def assert_contract_kept(what: str) -> None:
    """Fail, naming each request and the file's complaint, if a vendor's API file refused anything."""
    violations = contract_violations()
    if violations:
        raise AssertionError(f"{what}: the vendor's API file refuses {len(violations)} exchange(s) with the "
                             "emulator (docs/api-contracts.md):\n" + "\n".join(f"- {v}" for v in violations))


class Admin:
    """The test side of an emulator's `/_sandbox/` admin routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def faults(self, *specs: dict[str, t.Any]) -> None:
        requests.post(f"{self.base_url}/_sandbox/faults", json=list(specs), timeout=10).raise_for_status()

    def pending_faults(self) -> list[dict[str, t.Any]]:
        pending = requests.get(f"{self.base_url}/_sandbox/faults", timeout=10).json()["pending"]
        return t.cast("list[dict[str, t.Any]]", pending)

    def clear_faults(self) -> None:
        requests.delete(f"{self.base_url}/_sandbox/faults", timeout=10).raise_for_status()

    def settings(self, **changes: t.Any) -> dict[str, t.Any]:
        response = requests.post(f"{self.base_url}/_sandbox/settings", json=changes, timeout=10)
        response.raise_for_status()
        return t.cast("dict[str, t.Any]", response.json())

    def request_count(self) -> int:
        return int(requests.get(f"{self.base_url}/_sandbox/requests", timeout=10).json()["total"])

    def requests_by_route(self) -> dict[str, int]:
        counts = requests.get(f"{self.base_url}/_sandbox/requests", timeout=10).json()["by_route"]
        return t.cast("dict[str, int]", counts)

    def request_log(self) -> list[dict[str, t.Any]]:
        """The requests the emulator answered, oldest first: `at` (epoch s), method, path, query, status."""
        log = requests.get(f"{self.base_url}/_sandbox/log", timeout=10).json()["requests"]
        return t.cast("list[dict[str, t.Any]]", log)

    def reset(self) -> None:
        requests.post(f"{self.base_url}/_sandbox/reset", timeout=10).raise_for_status()


@dataclass
class TapRun:
    """The outcome of one tap process: its Singer messages, its stderr and exit code."""

    returncode: int
    messages: list[dict[str, t.Any]]
    stderr: str
    stdout_text: str = field(repr=False, default="")

    def records(self, stream: str | None = None) -> list[dict[str, t.Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and stream in (None, m["stream"])]

    def schema(self, stream: str) -> dict[str, t.Any]:
        return next(m["schema"] for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        return self.states[-1] if self.states else None


def wait_after_first_429(log: list[dict[str, t.Any]], path: str = "") -> float:
    """Seconds from the first 429 in a request log to the first request after it that was not refused.

    Every request that arrives during a 429 storm is refused, so the first one to get through shows
    how long the tap held back every worker after the refusal.
    """
    entries = sorted((entry for entry in log if path in entry["path"]), key=lambda entry: entry["at"])
    first = next(index for index, entry in enumerate(entries) if entry["status"] == 429)
    later = next(entry for entry in entries[first:] if entry["status"] != 429)
    return float(later["at"] - entries[first]["at"])


def run_tap(
    executable: str,
    config: dict[str, t.Any],
    *,
    catalog: dict[str, t.Any] | None = None,
    state: dict[str, t.Any] | None = None,
    extra_args: t.Sequence[str] = (),
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run a tap's command line (`tap-x --config ...`) to completion and parse what it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [str(VENV_BIN / executable), "--config", _write(tmp, "config.json", config)]
        if catalog is not None:
            args += ["--catalog", _write(tmp, "catalog.json", catalog)]
        if state is not None:
            args += ["--state", _write(tmp, "state.json", state)]
        args += list(extra_args)
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, **(env or {})},
        )
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{\"type\"")]
    return TapRun(proc.returncode, messages, proc.stderr, proc.stdout)


def discover(executable: str, config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The catalog a tap discovers for `config`."""
    run = run_tap(executable, config, extra_args=["--discover"])
    assert run.returncode == 0, run.stderr
    return t.cast("dict[str, t.Any]", json.loads(run.stdout_text))


def select_streams(catalog: dict[str, t.Any], *names: str) -> dict[str, t.Any]:
    """The catalog with exactly `names` selected (all their properties)."""
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] in names
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = chosen
    return catalog


def assert_no_secrets(text: str, secrets: t.Iterable[str]) -> None:
    """Fail if any secret, or anything that looks like a presigned signature, appears in `text`."""
    for secret in secrets:
        assert secret not in text, f"a secret value leaked: {secret[:3]}..."
    for marker in ("X-Amz-Signature=", "X-Amz-Credential=", "Signature=", "Authorization: Basic", "Bearer ey"):
        assert marker not in text, f"a signed URL or auth header leaked: {marker}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def meltano(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `meltano ARGS` in the repository's project with `env` added (state kept in env's database).

    Meltano writes a plugin's discovered catalog and config to `.meltano/run/<plugin>/`, shared by every
    invocation: two concurrent runs of one plugin (pytest-xdist workers) would overwrite each other's
    catalog. A lock per plugin named in `args` serialises those, across processes.
    """
    with meltano_plugin_locks(*args):
        return subprocess.run(
            [MELTANO, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
            env=meltano_env(env),
        )


MELTANO = shutil.which("meltano", path=str(VENV_BIN)) or "meltano"


def meltano_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of a `meltano` process: ours, without usage stats, with `env` added."""
    return {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **env}


@contextlib.contextmanager
def meltano_plugin_locks(*args: str) -> t.Iterator[None]:
    """Hold, across processes, a lock for each plugin named in `args` (see `meltano`)."""
    plugins = sorted(a for a in args if a.startswith(("tap-", "target-")))
    with contextlib.ExitStack() as stack:
        for plugin in plugins:
            lock = stack.enter_context(open(Path(tempfile.gettempdir()) / f"meltano-run-{plugin}.lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(directory: str, name: str, value: dict[str, t.Any]) -> str:
    path = Path(directory) / name
    path.write_text(json.dumps(value))
    return str(path)
