"""`KitRESTStream`: the SDK's `RESTStream` with our reliability policy wired into its hooks."""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import urlsplit

import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from marketing_tapkit.config import DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT
from marketing_tapkit.errors import vendor_message as words_of_vendor
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.retry import RetryPolicy, describe_failure, is_retriable_status

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from backoff.types import Details

_TToken = t.TypeVar("_TToken")


class KitRESTStream(RESTStream[_TToken]):
    """A REST stream with timeouts, Retry-After-aware backoff and vendor error messages.

    Subclasses declare what differs (path, keys, schema, paginator) and, where a vendor words its
    errors unusually, override `error_hint` to add the likely causes and the setting to fix.
    """

    #: Read the body as a stream (for bodies too large for memory) instead of whole.
    stream_response_body: bool = False

    #: Pages are JSON documents read whole: decode them while the request can still be retried, so a
    #: page garbled in transit is fetched again (and only a page that stays malformed fails the sync).
    decode_json_pages: bool = False

    #: Our records come from JSON or CSV parsers, so they hold JSON types already, and the timestamps
    #: streams convert are converted in `post_process`. Recursive conformance would re-check every
    #: value of every record for nothing (it took half of a tap's time); schemas stay open
    #: (`additionalProperties`) where the vendor's field set varies, so nothing needs removing either.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @cached_property
    def _every_property_selected(self) -> bool:
        mask = self.mask
        return all(mask.values())

    @override
    def _generate_record_messages(self, record: dict[str, t.Any]) -> Generator[RecordMessage, None, None]:
        # The SDK walks every record to drop deselected properties, even when none is deselected
        # (the usual case): skip the walk then. With a deselected property, the SDK's own path runs.
        if not self._every_property_selected or self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE:
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias, record=mapped, version=self._stream_version,
                    time_extracted=utc_now(),
                )

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Tries and waits, from the `max_retries` setting."""
        retries = self.config.get("max_retries")
        tries = (DEFAULT_MAX_RETRIES if retries is None else int(retries) + 1)
        return RetryPolicy(max_tries=max(1, tries))

    @override
    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT)

    @override
    @property
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        # Session.send() takes its `stream` default from here; the SDK passes no value of its own.
        session.stream = self.stream_response_body
        return session

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

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code < 400:
            if self.decode_json_pages:
                self._validate_json_page(response)
            return
        message = self.response_error_message(response)
        if is_retriable_status(response.status_code):
            raise RetriableAPIError(message, response)
        raise FatalAPIError(message)

    def _validate_json_page(self, response: requests.Response) -> None:
        try:
            decoded_json(response)
        except MalformedInputError as exc:
            raise RetriableAPIError(f"{self.name}: {exc}") from None

    @override
    def response_error_message(self, response: requests.Response) -> str:
        # Only the path: query strings can hold signatures and the host adds nothing.
        path = urlsplit(response.url).path if response.url else self.path
        method = response.request.method if response.request is not None else "GET"
        words = self.vendor_message(response)
        message = f"{self.name}: {method} {path} failed with HTTP {response.status_code}: {words}"
        hint = self.error_hint(response)
        return f"{message}. {hint}" if hint else message

    def vendor_message(self, response: requests.Response) -> str:
        """The vendor's own words from an error response (override where a vendor has its own shape)."""
        return words_of_vendor(response)

    def error_hint(self, response: requests.Response) -> str | None:
        """Likely causes and the setting to fix for a failed response; None when there is nothing to add."""
        if response.status_code == 401:
            return "Check the credentials in the tap's settings."
        return None
