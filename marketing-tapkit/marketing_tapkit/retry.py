"""The HTTP reliability policy every tap shares: which failures are retried, and how long to wait.

The SDK retries 429 and 5xx with plain exponential backoff; vendors tell us how long to wait
(`Retry-After` in seconds or as an HTTP date, Cordial's `X-Rate-Limit-Reset`), and waiting less than
that only burns tries. This module turns those headers into waits, and is used both by the
SDK's `backoff` decorator (through `KitRESTStream`) and by direct calls (`call_with_retries`) for
requests that are not SDK pages: OAuth tokens, presigned file downloads, export job polls.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from marketing_tapkit.redaction import redact_url

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

T = t.TypeVar("T")

#: Exceptions that mean "the request or its body did not arrive whole": always worth another try.
TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

RETRIABLE_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.REQUEST_TIMEOUT})


def is_retriable_status(status_code: int) -> bool:
    """Return True for the statuses a later identical request may succeed on (429, 408, 5xx)."""
    return status_code in RETRIABLE_STATUSES or status_code >= HTTPStatus.INTERNAL_SERVER_ERROR


def retry_after_seconds(response: requests.Response | None, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` or `X-Rate-Limit-Reset`; None if neither.

    `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). `X-Rate-Limit-Reset`
    is read as seconds to wait when small and as an epoch timestamp when it looks like one
    (Cordial's docs do not say which; spec cordial.md marks it GUESSED, so accept both).
    """
    if response is None:
        return None
    now = time.time() if now is None else now
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(header) if header else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - now)
    reset = response.headers.get("X-Rate-Limit-Reset") or response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset.strip())
        except ValueError:
            return None
        # An epoch in seconds (or milliseconds) is far larger than any sane wait.
        if value > 1e12:
            value = value / 1000.0
        if value > 1e9:
            return max(0.0, value - now)
        return max(0.0, value)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries, and how long between them.

    Waits grow exponentially from `base_wait` with full jitter (so that parallel taps do not retry
    in lock-step), capped at `max_wait`; a server's own `Retry-After` wins over the schedule (also
    capped, so a hostile header cannot park a run for a day).
    """

    max_tries: int = 6
    base_wait: float = 1.0
    max_wait: float = 60.0
    max_retry_after: float = 900.0

    def wait_generator(self) -> Generator[float, BaseException | None, None]:
        """A `backoff` wait generator: it is sent each failure and yields the seconds to wait."""
        attempt = 0
        failure = yield 0.0  # `backoff` primes the generator with send(None)
        while True:
            attempt += 1
            failure = yield self.wait_for(failure, attempt)

    def wait_for(self, failure: BaseException | None, attempt: int) -> float:
        """Seconds to wait before try `attempt + 1` after `failure`."""
        response = getattr(failure, "response", None)
        asked = retry_after_seconds(response) if isinstance(response, requests.Response) else None
        if asked is not None:
            return min(asked, self.max_retry_after)
        ceiling = min(self.max_wait, self.base_wait * (2 ** (attempt - 1)))
        # "Equal jitter": never less than half the schedule, never more than all of it.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def decorate(self, func: Callable[..., T], logger: logging.Logger, what: str) -> Callable[..., T]:
        """Wrap `func` so transient failures are retried under this policy."""

        def log_backoff(details: t.Any) -> None:
            failure = details.get("exception")
            logger.warning(
                "%s failed (try %d of %d): %s; retrying in %.1f s",
                what,
                details.get("tries"),
                self.max_tries,
                describe_failure(failure),
                details.get("wait"),
            )

        return backoff.on_exception(
            self.wait_generator,
            TRANSIENT_EXCEPTIONS,
            max_tries=self.max_tries,
            jitter=None,
            on_backoff=log_backoff,
            logger=None,
            raise_on_giveup=True,
        )(func)


def describe_failure(failure: BaseException | None) -> str:
    """A one-line, secret-free description of a failed try."""
    if failure is None:
        return "unknown failure"
    response = getattr(failure, "response", None)
    if isinstance(response, requests.Response):
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    text = str(failure)
    return f"{type(failure).__name__}: {redact_url(text)}" if text else type(failure).__name__


def call_with_retries(
    func: Callable[[], T],
    *,
    policy: RetryPolicy,
    logger: logging.Logger,
    what: str,
) -> T:
    """Call `func` (which raises `RetriableAPIError` or a transport error on transient failures) with retries."""
    return policy.decorate(func, logger, what)()


def raise_for_status(response: requests.Response, message: str) -> None:
    """Raise the exception that tells the caller what to do with a failed response.

    Retriable statuses raise `RetriableAPIError` (with the response, so `Retry-After` is honoured);
    any other 4xx raises `FatalAPIError` with `message`, which should carry the vendor's own words.
    """
    if response.status_code < HTTPStatus.BAD_REQUEST:
        return
    if is_retriable_status(response.status_code):
        raise RetriableAPIError(message, response)
    raise FatalAPIError(message)
