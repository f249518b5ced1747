"""Pages fetched ahead (`max_concurrent_requests`), through tap-evergage's real command line.

Evergage's users, accounts and segment members are paged by page number with no total: the next
page's number is known before the current page arrives, so the kit keeps several pages in flight. These
tests pin what must not change with it: records in exactly the one-at-a-time order, the end of the
export found on a short or empty page (pages fetched past it discarded), retries of one page while
others are in flight, and a 429 that holds back every worker.
"""

from __future__ import annotations

import typing as t

import pytest

from sandbox.evergage import EvergageEmulator
from tests.support import Admin, TapRun, discover, run_tap, select_streams, wait_after_first_429

CREDENTIALS = {"api_key_id": "sandbox-api-key-id", "api_secret_key": "sandbox-api-secret-key-0f6c2b"}
PAGE = 10
USERS = r"/api/dataset/engage/users\.json"
#: Uneven delays for the first pages, so that pages in flight are answered out of order.
SHUFFLED_LATENCY = [{"kind": "latency", "seconds": s, "path": r"\.json$"} for s in (0.3, 0.0, 0.2, 0.05, 0.25, 0.1)]


def sync(base_url: str, stream: str = "users", *faults: dict[str, t.Any], **config: t.Any) -> tuple[TapRun, list]:
    """Discover, inject `faults`, sync `stream`; the run and the request log of the sync alone."""
    config = {"api_url": base_url, **CREDENTIALS, "datasets": ["engage"], "page_size": PAGE, **config}
    catalog = select_streams(discover("tap-evergage", config), stream)
    admin = Admin(base_url)
    admin.reset()
    if faults:
        admin.faults(*faults)
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, admin.request_log()


def expected_names(scale: int, duplicates: list[int]) -> list[str]:
    """The users' names in the emulator's export order (a duplicate follows the next user)."""
    emulated = EvergageEmulator(scale=scale, duplicates=duplicates)
    return [emulated.data.user("engage", index)["name"] for index, _ in emulated.data.served_users("engage", scale)]


def pages_asked(log: list[dict[str, t.Any]]) -> list[int]:
    return sorted(int(entry["query"]["page"]) for entry in log if entry["path"].endswith("/users.json"))


def asked_ahead(log: list[dict[str, t.Any]]) -> bool:
    """Page 1 was asked before page 0 (held 0.3 s by `SHUFFLED_LATENCY`) was answered: fetched ahead.

    Timed from the emulator's arrival times, not from how many pages past the end were asked: those
    depend on whether a worker had sent its request before the last page arrived.
    """
    first: dict[int, float] = {}
    for entry in log:
        if entry["path"].endswith(".json") and "page" in entry["query"]:
            page = int(entry["query"]["page"])
            first[page] = min(first.get(page, entry["at"]), entry["at"])
    return 0 in first and 1 in first and first[1] - first[0] < 0.3


@pytest.mark.parametrize("concurrency", [4, 8])
def test_records_come_in_the_one_at_a_time_order(emulator, concurrency: int) -> None:
    server = emulator("evergage", scale=95, duplicates=[9, 40])
    one, _ = sync(server.base_url, max_concurrent_requests=1)
    many, log = sync(server.base_url, "users", *SHUFFLED_LATENCY, max_concurrent_requests=concurrency)
    assert many.records("users") == one.records("users")
    assert [r["name"] for r in many.records("users")] == expected_names(95, [9, 40])
    assert many.states == one.states, "state is written as in a one-at-a-time run"
    assert asked_ahead(log), "pages were fetched ahead"


@pytest.mark.parametrize("stream", ["accounts", "segment_members"])
def test_accounts_and_segment_members_fetch_ahead_in_order(emulator, stream: str) -> None:
    server = emulator("evergage", scale=400, duplicates=[], accounts_mode="data")
    extra = {"segments": ["Cart Abandoners"]} if stream == "segment_members" else {}
    one, _ = sync(server.base_url, stream, max_concurrent_requests=1, **extra)
    many, log = sync(server.base_url, stream, *SHUFFLED_LATENCY, max_concurrent_requests=4, **extra)
    assert len(one.records(stream)) > 3 * PAGE
    assert many.records(stream) == one.records(stream)
    assert asked_ahead(log), "pages were fetched ahead"


@pytest.mark.parametrize(("scale", "pages_needed"), [(95, 10), (100, 11), (0, 1)],
                         ids=["short last page", "exact multiple ends on the empty page", "empty first page"])
def test_the_export_ends_on_the_first_short_page_and_pages_past_it_are_discarded(
    emulator, scale: int, pages_needed: int
) -> None:
    server = emulator("evergage", scale=scale, duplicates=[])
    run, log = sync(server.base_url, max_concurrent_requests=4)
    assert [r["name"] for r in run.records("users")] == expected_names(scale, [])
    asked = pages_asked(log)
    assert asked[:pages_needed] == list(range(pages_needed)), "every page up to the last, once"
    past = asked[pages_needed:]
    assert len(past) <= 3, f"at most concurrency - 1 pages past the end, got {past}"
    assert all(page >= pages_needed for page in past)


def test_a_5xx_and_a_dropped_connection_on_pages_in_flight_are_retried_exactly(emulator) -> None:
    server = emulator("evergage", scale=120, duplicates=[30])
    faults = [
        {"kind": "latency", "seconds": 0.1, "times": 4, "path": USERS},  # four pages in flight at once
        {"kind": "status", "status": 503, "times": 1, "path": USERS},
        {"kind": "drop", "after_bytes": 300, "times": 1, "path": USERS},
    ]
    run, log = sync(server.base_url, "users", *faults, max_concurrent_requests=4)
    assert [r["name"] for r in run.records("users")] == expected_names(120, [30])
    assert Admin(server.base_url).pending_faults() == [], "a fault was not hit"
    assert [entry["status"] for entry in log].count(503) == 1
    assert run.stderr.count("retrying in") >= 2


def test_a_429_storm_pauses_every_worker_until_retry_after(emulator) -> None:
    server = emulator("evergage", scale=150, duplicates=[])
    # Five refusals: no more than `max_retries`, so even a page that meets all of them gets through.
    storm = {"kind": "status", "status": 429, "retry_after": 1, "times": 5, "path": USERS}
    run, log = sync(server.base_url, "users", storm, max_concurrent_requests=4)
    assert [r["name"] for r in run.records("users")] == expected_names(150, [])
    assert [entry["status"] for entry in log].count(429) == 5
    # No request got through before the Retry-After of the first refusal had passed.
    assert wait_after_first_429(log, "/users.json") >= 0.95, log
