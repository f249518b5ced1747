"""The retry policy, against the sandbox's fault switches (real HTTP, real tap process)."""

from __future__ import annotations

import re
import time
from email.utils import formatdate

import pytest
import requests
from marketing_tapkit.retry import RetryPolicy, retry_after_seconds

from tests.support import Admin, discover, run_tap, select_streams

EVERGAGE_CREDENTIALS = {"api_key_id": "sandbox-api-key-id", "api_secret_key": "sandbox-api-secret-key-0f6c2b"}


def users_only(base_url: str, **extra: object) -> dict:
    # One page at a time: a fault then meets the pages in order (with pages fetched ahead it could land on
    # a page past the last, whose answer is discarded; tests/kit/test_pages_ahead.py covers that).
    return {
        "api_url": base_url, **EVERGAGE_CREDENTIALS, "datasets": ["engage"], "page_size": 10,
        "max_concurrent_requests": 1, **extra,
    }


def sync_users(base_url: str, *faults: dict, **extra: object):  # type: ignore[no-untyped-def]
    """Discover, inject `faults`, then sync `users` (so the faults hit the sync, not the discovery)."""
    config = users_only(base_url, **extra)
    catalog = select_streams(discover("tap-evergage", config), "users")
    if faults:
        Admin(base_url).faults(*faults)
    return run_tap("tap-evergage", config, catalog=catalog)


def response_with(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    return response


def test_retry_after_accepts_seconds_http_dates_and_rate_limit_reset() -> None:
    now = time.time()
    assert retry_after_seconds(response_with({"Retry-After": "7"}), now=now) == 7
    assert retry_after_seconds(response_with({"Retry-After": formatdate(now + 30, usegmt=True)}), now=now) == (
        pytest.approx(30, abs=1)
    )
    assert retry_after_seconds(response_with({"X-Rate-Limit-Reset": "12"}), now=now) == 12
    assert retry_after_seconds(response_with({"X-Rate-Limit-Reset": str(int(now) + 40)}), now=now) == (
        pytest.approx(40, abs=1)
    )
    assert retry_after_seconds(response_with({}), now=now) is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_wait=1, max_wait=8)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        wait = policy.wait_for(None, attempt)
        assert ceiling / 2 <= wait <= ceiling


def test_429_with_retry_after_waits_that_long_then_succeeds(emulator) -> None:
    server = emulator("evergage", scale=25)
    started = time.monotonic()
    run = sync_users(server.base_url, {"kind": "status", "status": 429, "retry_after": 2, "path": "users"})
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert len({r["name"] for r in run.records("users")}) == 25
    assert re.search(r"HTTP 429.*retrying in 2\.0 s", run.stderr)
    assert elapsed >= 2.0


def test_dropped_connection_mid_body_is_retried(emulator) -> None:
    server = emulator("evergage", scale=25)
    run = sync_users(server.base_url, {"kind": "drop", "after_bytes": 300, "path": "users"})
    assert run.returncode == 0, run.stderr
    assert len({r["name"] for r in run.records("users")}) == 25
    assert "retrying in" in run.stderr


def test_5xx_burst_is_retried_until_it_passes(emulator) -> None:
    server = emulator("evergage", scale=5)
    run = sync_users(server.base_url, {"kind": "status", "status": 503, "times": 2, "path": "users"})
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("HTTP 503") >= 2


def test_retries_are_bounded_by_max_retries(emulator) -> None:
    server = emulator("evergage", scale=5)
    run = sync_users(server.base_url, {"kind": "status", "status": 502, "times": -1, "path": "users"}, max_retries=1)
    assert run.returncode != 0
    assert "HTTP 502" in run.stderr
    assert "try 1 of 2" in run.stderr
    assert "try 2 of 2" not in run.stderr.split("retrying")[-1]


def test_400_fails_at_once_with_the_vendors_message(emulator) -> None:
    server = emulator("evergage", scale=5)
    started = time.monotonic()
    # Every users request: with pages fetched ahead, a one-time fault could land on a page past the
    # last, whose answer is rightly discarded.
    run = sync_users(server.base_url, {
        "kind": "status", "status": 400, "path": "users", "times": -1,
        "body": '{"error": "Bad Request", "message": "pageSize is out of range", "status": 400}',
    })
    assert run.returncode != 0
    assert "HTTP 400: pageSize is out of range" in run.stderr
    assert "retrying" not in run.stderr
    assert time.monotonic() - started < 30


def test_page_with_bytes_that_are_not_utf8_is_fetched_again(emulator) -> None:
    """A page garbled in transit inside a string value: a typed error, retried like any garbled page."""
    server = emulator("evergage", scale=5)
    # Byte 12 of the first page lies inside the first user's `name` value.
    run = sync_users(server.base_url, {"kind": "corrupt", "after_bytes": 12, "payload_hex": "ff", "path": "users"})
    assert run.returncode == 0, run.stderr
    assert "not valid JSON" in run.stderr and "utf-8" in run.stderr
    assert "UnicodeDecodeError" not in run.stderr
    assert len(run.records("users")) == 6  # five users and the emulator's deliberate duplicate


def test_slow_response_past_request_timeout_is_retried(emulator) -> None:
    server = emulator("evergage", scale=5)
    run = sync_users(server.base_url, {"kind": "latency", "seconds": 3, "path": "users"}, request_timeout=1)
    assert run.returncode == 0, run.stderr
    assert "ReadTimeout" in run.stderr
    assert len(run.records("users")) == 6  # five users and the emulator's deliberate duplicate


def test_catalog_selection_is_honoured(emulator) -> None:
    """Sanity check of the runner the other tests rely on."""
    server = emulator("evergage", scale=3)
    config = users_only(server.base_url)
    catalog = select_streams(discover("tap-evergage", config), "audit_events")
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert {m["stream"] for m in run.messages if m["type"] == "RECORD"} == {"audit_events"}
