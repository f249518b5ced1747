"""`KitRESTStream`: the SDK's `RESTStream` with our reliability policy wired into its hooks.

Every HTTP call a stream makes goes through it: pages through the SDK's paging loop, and every other
call (discovery samples, export jobs and their polls, file listings, presigned downloads) through
`request` / `request_json`, with the same authenticator, User-Agent, timeout and retry policy.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from marketing_tapkit.config import HttpSettings
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.retry import RetryPolicy, call_with_retries, describe_failure, is_retriable_status
from marketing_tapkit.sdk_private import SDKStream

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from backoff.types import Details
    from singer_sdk.helpers.types import Context

_TToken = t.TypeVar("_TToken")


class KitRESTStream(SDKStream[_TToken]):
    """A REST stream with timeouts, Retry-After-aware backoff and vendor error messages.

    Subclasses declare what differs (path, keys, schema, paginator, `records_key`,
    `tolerated_http_errors`) and, where a vendor words its errors unusually, override `vendor_message`
    and `error_hint` to add the likely causes and the setting to fix.
    """

    #: Read the body as a stream (for bodies too large for memory) instead of whole.
    stream_response_body: bool = False

    #: Pages are JSON documents read whole: decode them while the request can still be retried, so a
    #: page garbled in transit is fetched again (and only a page that stays malformed fails the sync).
    decode_json_pages: bool = False

    #: Where a JSON page keeps its records: None for a bare array, else the key of the array.
    records_key: t.ClassVar[str | None] = None

    #: Statuses that mean "nothing here" for this stream's pages: no records, and no failure.
    tolerated_http_errors: t.ClassVar[frozenset[int]] = frozenset()

    #: The setting whose entries are this stream's partitions. When it is empty the SDK still calls
    #: `get_records` once, without a context: the stream then logs that there is nothing to read.
    partitions_setting: t.ClassVar[str | None] = None

    #: Our records come from JSON or CSV parsers, so they hold JSON types already, and the timestamps
    #: streams convert are converted in `post_process`. Recursive conformance would re-check every
    #: value of every record for nothing (it took half of a tap's time); schemas stay open
    #: (`additionalProperties`) where the vendor's field set varies, so nothing needs removing either.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

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
        return session

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

    # Responses --------------------------------------------------------------------------------------

    def is_tolerated(self, response: requests.Response) -> bool:
        """Whether a page's response means "nothing here" (by default: a status in `tolerated_http_errors`)."""
        return response.status_code in self.tolerated_http_errors

    def on_tolerated(self, response: requests.Response) -> None:
        """Called for a tolerated page response (override to warn the user about what it means)."""
        self.logger.debug("%s: %s answered HTTP %d: no records", self.name, self.path, response.status_code)

    @override
    def validate_response(self, response: requests.Response) -> None:
        if self.is_tolerated(response):
            self.on_tolerated(response)
            return
        self.check_status(response)
        if self.decode_json_pages:
            try:
                decoded_json(response)
            except MalformedInputError as exc:
                raise RetriableAPIError(f"{self.name}: {exc}") from None

    def check_status(self, response: requests.Response) -> None:
        """Raise for a failed status: 429, 408 and 5xx are retried, any other 4xx fails with the vendor's words."""
        if response.status_code < 400:
            return
        message = self.response_error_message(response)
        if is_retriable_status(response.status_code):
            raise RetriableAPIError(message, response)
        raise FatalAPIError(message)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        if self.is_tolerated(response):
            return
        yield from self.records_in(decoded_json(response), response)

    def records_in(self, page: t.Any, response: requests.Response) -> list[dict[str, t.Any]]:
        """The records of a decoded JSON page: the page itself, or its `records_key` array."""
        if page is None:
            return []
        records = page.get(self.records_key) if self.records_key and isinstance(page, dict) else page
        if not isinstance(records, list):
            shape = f"an object with a `{self.records_key}` array" if self.records_key else "a JSON array"
            raise FatalAPIError(
                f"{self.name}: unexpected response from {request_line(response)}: expected {shape}, "
                f"got {type(records if self.records_key and isinstance(page, dict) else page).__name__}"
            )
        return records

    @override
    def response_error_message(self, response: requests.Response) -> str:
        message = (
            f"{self.name}: {request_line(response, self.http_method)} failed with HTTP {response.status_code}: "
            f"{self.vendor_message(response)}"
        )
        hint = self.error_hint(response)
        return f"{message}. {hint}" if hint else message

    def vendor_message(self, response: requests.Response) -> str:
        """The vendor's own words from an error response (override where a vendor has its own shape)."""
        return vendor_message(response)

    def error_hint(self, response: requests.Response) -> str | None:
        """Likely causes and the setting to fix for a failed response; None when there is nothing to add."""
        if response.status_code == 401:
            return "Check the credentials in the tap's settings."
        return None

    # Partitions -------------------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if self.partitions_setting and not context:
            self.logger.info("%s: the `%s` setting is empty; there is nothing to read.", self.name,
                             self.partitions_setting)
            return []
        return super().get_records(context)

    # Requests outside the paging loop ---------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, t.Any] | None = None,
        json: t.Any = None,
        data: t.Any = None,
        headers: dict[str, str] | None = None,
        authenticate: bool = True,
        stream: bool = False,
        tolerated: t.Collection[int] = (),
    ) -> requests.Response | None:
        """Send one request, retried under the stream's policy; None when its status is in `tolerated`.

        `url` is a path under `url_base` or an absolute URL. With `authenticate=False` (presigned URLs
        that carry their own signature) no credentials are added. `what` names the call in logs and errors.
        """
        return call_with_retries(
            lambda: self.send(method, url, params=params, json=json, data=data, headers=headers,
                               authenticate=authenticate, stream=stream, tolerated=tolerated),
            policy=self.retry_policy, logger=self.logger, what=what,
        )

    def request_json(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, t.Any] | None = None,
        json: t.Any = None,
        tolerated: t.Collection[int] = (),
    ) -> t.Any:
        """The decoded JSON answer of one request (None when its status is tolerated); a garbled body is retried."""

        def attempt() -> t.Any:
            response = self.send(method, url, params=params, json=json, tolerated=tolerated)
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
        response = self.requests_session.send(prepared, timeout=self.timeout, stream=stream)
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
