"""`KitHTTPStream`: the run's HTTP settings, retries and errors, and the one request path outside the paging loop.

Every call a stream makes outside the SDK's paging loop (discovery samples, export jobs and their
polls, file listings, presigned downloads) goes through `request` / `request_json` / `send`, with the
stream's authenticator, User-Agent, timeout, retry policy and the tap's rate gate.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import parse_qs, urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import Unpack, override

from marketing_tapkit.concurrency import RateGate
from marketing_tapkit.config import HttpSettings
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.retry import RetryPolicy, call_with_retries, describe_failure, is_retriable_status
from marketing_tapkit.sdk_private import SDKStream

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from backoff.types import Details

_TToken = t.TypeVar("_TToken")


class SendOptions(t.TypedDict, total=False):
    """What `KitHTTPStream.send` takes besides the method and URL (and `request` / `request_json` pass on)."""

    params: dict[str, t.Any] | None
    json: t.Any
    data: t.Any
    headers: dict[str, str] | None
    authenticate: bool
    stream: bool
    tolerated: t.Collection[int]


class KitHTTPStream(SDKStream[_TToken]):
    """HTTP settings from the tap, Retry-After-aware backoff, vendor error messages, one request path."""

    #: The query parameter that says how deep a page is (`offset`, `page`), and the settings that narrow
    #: a scan: a page refused deep into a scan (some stores cap offset + limit) names both.
    page_parameter: t.ClassVar[str | None] = None
    narrow_scan_settings: t.ClassVar[tuple[str, ...]] = ()

    #: Read the body as a stream (for bodies too large for memory) instead of whole.
    stream_response_body: bool = False

    # Settings ---------------------------------------------------------------------------------------

    @cached_property
    def http(self) -> HttpSettings:
        """The run's HTTP settings: the tap's, parsed once (or this stream's config, outside a KitTap)."""
        settings = getattr(self.kit_tap, "http", None)
        if isinstance(settings, HttpSettings):
            return settings
        return HttpSettings.from_config(self.config, default_user_agent=f"{self.kit_tap.name}")

    @property
    def retry_policy(self) -> RetryPolicy:
        """Tries and waits, from the `max_retries` setting."""
        return self.http.retry_policy

    @override
    @property
    def timeout(self) -> int:
        return self.http.timeout

    @override
    @cached_property
    def user_agent(self) -> str:
        return self.http.user_agent

    @override
    @property
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        # Session.send() takes its `stream` default from here; the SDK passes no value of its own.
        session.stream = self.stream_response_body
        if not getattr(session, "kit_pool_sized", False):
            # One pooled connection per request in flight (requests keeps 10 by default).
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, self.http.max_concurrent_requests + 2))
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.kit_pool_sized = True  # type: ignore[attr-defined]
        return session

    @cached_property
    def rate_gate(self) -> RateGate:
        """The tap's gate: every request of every stream of the run passes it (429 pauses them all)."""
        gate = getattr(self.kit_tap, "rate_gate", None)
        return gate if isinstance(gate, RateGate) else RateGate(self.http.max_concurrent_requests)

    # Retries ----------------------------------------------------------------------------------------

    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        return self.retry_policy.wait_generator()

    @override
    def backoff_max_tries(self) -> int:
        return self.retry_policy.max_tries

    @override
    def backoff_jitter(self, value: float) -> float:
        # The policy applies its own jitter, and must not shorten a server's Retry-After.
        return value

    @override
    def backoff_handler(self, details: Details) -> None:
        self.logger.warning(
            "%s: request to %s failed (try %d of %d): %s; retrying in %.1f s",
            self.name,
            self.path,
            details.get("tries"),
            self.retry_policy.max_tries,
            describe_failure(t.cast("BaseException | None", details.get("exception"))),
            details.get("wait") or 0.0,
        )

    # Errors ---------------------------------------------------------------------------------------

    def check_status(self, response: requests.Response) -> None:
        """Raise for a failed status: 429, 408 and 5xx are retried, any other 4xx fails with the vendor's words."""
        if response.status_code < 400:
            return
        message = self.response_error_message(response)
        if is_retriable_status(response.status_code):
            raise RetriableAPIError(message, response)
        raise FatalAPIError(message)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        message = (
            f"{self.name}: {request_line(response, self.http_method)} failed with HTTP {response.status_code}: "
            f"{self.vendor_message(response)}"
        )
        hints = [hint for hint in (self.error_hint(response), self.deep_page_hint(response)) if hint]
        return ". ".join([message, *hints])

    def deep_page_hint(self, response: requests.Response) -> str | None:
        """For a page refused deep into a scan: how deep the scan got, and the settings that narrow it."""
        if not self.page_parameter or response.status_code not in {400, 416, 422}:
            return None
        depth = parse_qs(urlsplit(response.url or "").query).get(self.page_parameter, [""])[0]
        if not depth.isdigit() or int(depth) == 0:
            return None
        reached = (f"The API refused a page deep into the scan ({self.page_parameter} {int(depth):,} reached): "
                   "some APIs cap how deep a list can be paged")
        if not self.narrow_scan_settings:
            return (f"{reached}. No setting of this tap narrows the scan: deselect `{self.name}` to sync the "
                    "other streams")
        return f"{reached}. Narrow the scan with {', '.join(f'`{name}`' for name in self.narrow_scan_settings)}"

    def vendor_message(self, response: requests.Response) -> str:
        """The vendor's own words from an error response (override where a vendor has its own shape)."""
        return vendor_message(response)

    def error_hint(self, response: requests.Response) -> str | None:
        """Likely causes and the setting to fix for a failed response; None when there is nothing to add."""
        if response.status_code == 401:
            return "Check the credentials in the tap's settings."
        return None

    # Requests outside the paging loop ---------------------------------------------------------------

    def request(self, method: str, url: str, *, what: str, **options: Unpack[SendOptions]) -> requests.Response | None:
        """Send one request, retried under the stream's policy; None when its status is in `tolerated`.

        `url` is a path under `url_base` or an absolute URL; `options` are `send`'s. With
        `authenticate=False` (presigned URLs that carry their own signature) no credentials are added.
        `what` names the call in logs and errors.
        """
        return call_with_retries(
            lambda: self.send(method, url, **options), policy=self.retry_policy, logger=self.logger, what=what
        )

    def request_json(self, method: str, url: str, *, what: str, **options: Unpack[SendOptions]) -> t.Any:
        """The decoded JSON answer of one request (None when its status is tolerated); a garbled body is retried."""

        def attempt() -> t.Any:
            response = self.send(method, url, **options)
            if response is None:
                return None
            try:
                return decoded_json(response)
            except MalformedInputError as exc:  # garbled in transit: worth another try
                raise RetriableAPIError(f"{self.name}: {exc}") from None

        return call_with_retries(attempt, policy=self.retry_policy, logger=self.logger, what=what)

    def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, t.Any] | None = None,
        json: t.Any = None,
        data: t.Any = None,
        headers: dict[str, str] | None = None,
        authenticate: bool = True,
        stream: bool = False,
        tolerated: t.Collection[int] = (),
    ) -> requests.Response | None:
        """Send one request, once (`request` retries it): None when its status is in `tolerated`."""
        absolute = url.startswith(("https://", "http://"))
        target = url if absolute else f"{self.url_base}{url}"
        if authenticate:
            # The SDK's builder adds the stream's headers, the User-Agent and the authenticator.
            prepared = self.build_prepared_request(
                method=method, url=target, params=params, json=json, data=data,
                headers={**self.http_headers, **(headers or {})},
            )
        else:
            # Not through the session: it would add the authenticator, and a presigned URL carries
            # its own signature (S3 refuses a request with two).
            prepared = requests.Request(
                method=method, url=target, params=params, json=json, data=data,
                headers={"User-Agent": self.user_agent, **(headers or {})},
            ).prepare()
        with self.rate_gate.slot():
            response = self.requests_session.send(prepared, timeout=self.timeout, stream=stream)
        self.rate_gate.observe(response)
        if response.status_code in tolerated:
            response.close()
            return None
        if response.status_code >= 400:
            self.check_status(response)
        return response


def request_line(response: requests.Response, default_method: str = "GET") -> str:
    """`METHOD /path` of a response's request: no host, no query string (it can hold signatures)."""
    method = response.request.method if response.request is not None else default_method
    return f"{method} {urlsplit(response.url).path if response.url else ''}"
