"""Evergage's rows of the fault x tap matrix: a 429 storm while pages are fetched ahead."""

from __future__ import annotations

import typing as t

from tests.profiles import TapProfile
from tests.reliability.outcomes import assert_exact
from tests.support import Admin, assert_no_secrets, discover, run_tap, select_streams, wait_after_first_429


def rate_limit_storm_under_concurrency(profile: TapProfile, base_url: str) -> str:
    """Five 429s with Retry-After while four pages are in flight: every worker waits, no row is lost.

    Five: at most `max_retries` (5 by default), so even a page that meets every refusal of the storm gets
    through on its last try; a longer storm may rightly fail that page.
    """
    config = {**profile.config(base_url), "max_concurrent_requests": 4}
    catalog = select_streams(discover(profile.tap, config), profile.main_stream)
    admin = Admin(base_url)
    admin.reset()
    admin.faults(
        {"kind": "latency", "seconds": 0.05, "times": 4, "path": profile.data_path},  # four pages in flight
        {"kind": "status", "status": 429, "retry_after": 1, "times": 5, "path": profile.data_path},
    )
    run = run_tap(profile.tap, config, catalog=catalog)
    assert_no_secrets(run.stderr + str(run.states), profile.secrets)
    outcome = assert_exact(profile, run, profile.emulator_settings)
    log = admin.request_log()
    assert [entry["status"] for entry in log].count(429) == 5, "the storm was not hit"
    paused = wait_after_first_429(log)
    assert paused >= 0.95, f"a request got through {paused:.2f} s after a 429 asking for 1 s"
    return f"{outcome}, held {paused:.1f} s"


EVERGAGE: dict[str, t.Callable[[TapProfile, str], str]] = {
    "429 storm under concurrency": rate_limit_storm_under_concurrency,
}
