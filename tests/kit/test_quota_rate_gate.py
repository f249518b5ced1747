"""`QuotaRateGate`: requests in parallel spend the quota that `X-Rate-Limit-Remaining` announces, and wait
for `X-Rate-Limit-Reset` once it is spent (the tap-level proof against the emulator is in
tests/cordial/test_concurrency.py)."""

from __future__ import annotations

import threading
import time

import requests
from marketing_tapkit.concurrency import QuotaRateGate


def _answer(remaining: int, reset: float) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers["X-Rate-Limit-Remaining"] = str(remaining)
    response.headers["X-Rate-Limit-Reset"] = str(reset)
    return response


def _sent_within(gate: QuotaRateGate, tries: int, seconds: float) -> int:
    """How many of `tries` threads got a slot within `seconds`."""
    sent = []

    def send() -> None:
        with gate.slot():
            sent.append(time.monotonic())

    threads = [threading.Thread(target=send, daemon=True) for _ in range(tries)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    count = len(sent)
    for thread in threads:
        thread.join(timeout=5)
    return count


def test_announced_quota_lets_only_that_many_requests_leave_until_the_reset():
    gate = QuotaRateGate(4)
    gate.observe(_answer(remaining=2, reset=0.6))

    started = time.monotonic()
    assert _sent_within(gate, 4, 0.3) == 2, "two left in the window: the other two wait"
    assert time.monotonic() - started >= 0.55, "the waiting two left once the window started again"


def test_requests_in_flight_count_against_the_quota():
    gate = QuotaRateGate(4)
    holding = threading.Event()
    release = threading.Event()

    def in_flight() -> None:
        with gate.slot():
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=in_flight, daemon=True)
    thread.start()
    holding.wait(5)
    gate.observe(_answer(remaining=2, reset=0.5))  # one of those two is the request still in flight

    assert _sent_within(gate, 3, 0.25) == 1
    release.set()
    thread.join(5)


def test_no_quota_header_leaves_the_gate_open():
    gate = QuotaRateGate(4)
    response = requests.Response()
    response.status_code = 200
    gate.observe(response)

    assert _sent_within(gate, 4, 0.2) == 4
