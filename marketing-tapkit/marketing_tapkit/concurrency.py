"""Requests in parallel within a vendor's rate limits: the gate every request of a tap passes, and pages ahead.

A vendor's API answers in tens to thousands of milliseconds, so a tap that waits for each page before
asking for the next spends most of a run waiting. Where the next page's token is known before the
current page arrives (page numbers, offsets), `pages_ahead` keeps up to `max_concurrent_requests`
pages in flight and hands them over strictly in page order; records, state and bookmarks are then
written exactly as in a one-at-a-time run.

`RateGate` is shared by every request of a tap (pages, calls outside the paging loop, downloads):
- a 429 pauses every worker until its `Retry-After`, and halves the concurrency, which recovers by one
  after each run of successes (additive increase, multiplicative decrease);
- `X-Rate-Limit-Remaining: 0` (Cordial) pauses every worker until `X-Rate-Limit-Reset`, before a
  request is refused rather than after.
"""

from __future__ import annotations

import contextlib
import threading
import time
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from marketing_tapkit.retry import retry_after_seconds

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import requests

T = t.TypeVar("T")
TToken = t.TypeVar("TToken")

#: Successes in a row, per allowed request, before the concurrency grows back by one.
_RECOVERY_RUN = 4
#: The longest a rate-limit header may pause the workers (a hostile header cannot park a run).
_MAX_PAUSE_SECONDS = 900.0


class RateGate:
    """How many requests may be in flight now, and when the next may leave."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.allowed = self.max_concurrency
        self._in_flight = 0
        self._paused_until = 0.0
        self._successes = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the allowed places for the length of a request (waits for a place and any pause)."""
        with self._changed:
            while True:
                pause = self._paused_until - time.monotonic()
                if pause <= 0 and self._in_flight < self.allowed:
                    break
                self._changed.wait(timeout=pause if pause > 0 else None)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def wait_until_open(self) -> None:
        """Wait out a pause (for requests sent one at a time, outside `slot`)."""
        with self._changed:
            while (pause := self._paused_until - time.monotonic()) > 0:
                self._changed.wait(timeout=pause)

    def observe(self, response: requests.Response) -> None:
        """Learn from a response: a refusal pauses and narrows; a success may widen; a spent quota pauses."""
        with self._changed:
            if response.status_code == 429:
                self._pause(retry_after_seconds(response) or 1.0)
                self.allowed = max(1, self.allowed // 2)
                self._successes = 0
            elif response.status_code < 400:
                self._successes += 1
                if self.allowed < self.max_concurrency and self._successes >= _RECOVERY_RUN * self.allowed:
                    self.allowed += 1
                    self._successes = 0
            remaining = response.headers.get("X-Rate-Limit-Remaining") or response.headers.get("X-RateLimit-Remaining")
            if remaining is not None and remaining.strip() in {"0", "0.0"} and response.status_code != 429:
                self._pause(retry_after_seconds(response) or 1.0)
            self._changed.notify_all()

    def _pause(self, seconds: float) -> None:
        until = time.monotonic() + min(seconds, _MAX_PAUSE_SECONDS)
        self._paused_until = max(self._paused_until, until)


class QuotaRateGate(RateGate):
    """A `RateGate` that also spends the quota a response announces, so parallel requests stay within it.

    `RateGate` pauses once a response says `X-Rate-Limit-Remaining: 0`, but by then the other requests in
    flight were already sent, and they are refused (429). This gate remembers the quota that the latest
    response left (less the requests still in flight, which will each spend one), lets at most that many
    more requests leave, and forgets it when `X-Rate-Limit-Reset` says the window starts again. Before the
    first answer nothing is known, so `max_concurrent_requests` should stay under the vendor's limit.
    """

    def __init__(self, max_concurrency: int) -> None:
        super().__init__(max_concurrency)
        self._quota: int | None = None
        self._quota_until = 0.0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            while True:
                if self._quota is not None and time.monotonic() >= self._quota_until:
                    self._quota = None  # a new window
                if self._quota is None or self._quota > 0:
                    break
                self._changed.wait(timeout=max(0.0, self._quota_until - time.monotonic()))
            if self._quota is not None:
                self._quota -= 1
        with super().slot():
            yield

    def observe(self, response: requests.Response) -> None:
        super().observe(response)
        remaining = response.headers.get("X-Rate-Limit-Remaining") or response.headers.get("X-RateLimit-Remaining")
        reset = retry_after_seconds(response)
        if remaining is None or reset is None:
            return
        try:
            left = int(float(remaining.strip()))
        except ValueError:
            return
        with self._changed:
            quota = max(0, left - self._in_flight)
            if self._quota is not None and time.monotonic() < self._quota_until:
                quota = min(quota, self._quota)  # an older answer may arrive after a newer one
            self._quota = quota
            self._quota_until = time.monotonic() + min(reset, _MAX_PAUSE_SECONDS)
            self._changed.notify_all()


class PagesAhead(t.Generic[TToken, T]):
    """Fetch pages `token, next(token), ...` on worker threads and hand them over in order.

    `fetch(token)` returns one page (with its own retries); `is_last(page)` says whether a page ends the
    collection. At most `ahead` pages are in flight or waiting (so memory stays bounded by them); pages
    fetched past the last are discarded, and a failure is raised when its page's turn comes, after
    every earlier page was handed over.
    """

    def __init__(
        self,
        *,
        first: TToken,
        next_token: Callable[[TToken], TToken],
        fetch: Callable[[TToken], T],
        is_last: Callable[[T], bool],
        ahead: Callable[[], int],
        name: str,
    ) -> None:
        self._token = first
        self._next_token = next_token
        self._fetch = fetch
        self._is_last = is_last
        self._ahead = ahead
        self._name = name
        #: Set once the last page was seen: workers still retrying a page past it give up.
        self.finished = threading.Event()

    def __iter__(self) -> Iterator[T]:
        pool = ThreadPoolExecutor(max_workers=max(1, self._ahead()), thread_name_prefix=self._name)
        pending: deque[Future[T]] = deque()
        ended = False
        try:
            while True:
                while len(pending) < max(1, self._ahead()):
                    pending.append(pool.submit(self._fetch, self._token))
                    self._token = self._next_token(self._token)
                page = pending.popleft().result()
                last = self._is_last(page)
                if last:
                    self.finished.set()
                yield page
                if last:
                    ended = True
                    return
        finally:
            self.finished.set()
            # Pages past the last are awaited (they are few and short); after a failure or a SIGTERM,
            # a page still in flight is not: it would hold the stop up to its request timeout.
            pool.shutdown(wait=ended, cancel_futures=True)
