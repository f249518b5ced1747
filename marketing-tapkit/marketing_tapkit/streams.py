"""`KitRESTStream`: the SDK's `RESTStream` with our reliability policy wired into its hooks.

Every HTTP call a stream makes goes through it: pages through the SDK's paging loop, and every other
call (discovery samples, export jobs and their polls, file listings, presigned downloads) through
`request` / `request_json`, with the same authenticator, User-Agent, timeout and retry policy.
"""

from __future__ import annotations

import threading
import typing as t

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from marketing_tapkit.concurrency import PagesAhead
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.requesting import KitHTTPStream, request_line

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

    from marketing_tapkit.pagination import PagesAheadPaginator

_TToken = t.TypeVar("_TToken")


class PagesFinishedError(Exception):
    """A page past the last was still being fetched (or retried) when the last page arrived."""


class KitRESTStream(KitHTTPStream[_TToken]):
    """A REST stream with timeouts, Retry-After-aware backoff and vendor error messages.

    Subclasses declare what differs (path, keys, schema, paginator, `records_key`,
    `tolerated_http_errors`) and, where a vendor words its errors unusually, override `vendor_message`
    and `error_hint` to add the likely causes and the setting to fix.
    """

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

    # Responses --------------------------------------------------------------------------------------

    def is_tolerated(self, response: requests.Response) -> bool:
        """Whether a page's response means "nothing here" (by default: a status in `tolerated_http_errors`)."""
        return response.status_code in self.tolerated_http_errors

    def on_tolerated(self, response: requests.Response) -> None:
        """Called for a tolerated page response (override to warn the user about what it means)."""
        self.logger.debug("%s: %s answered HTTP %d: no records", self.name, self.path, response.status_code)

    @override
    def validate_response(self, response: requests.Response) -> None:
        self.rate_gate.observe(response)
        if self.is_tolerated(response):
            self.on_tolerated(response)
            return
        self.check_status(response)
        if self.decode_json_pages:
            try:
                decoded_json(response)
            except MalformedInputError as exc:
                raise RetriableAPIError(f"{self.name}: {exc}") from None

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

    # Pages ------------------------------------------------------------------------------------------

    @override
    def get_http_request(self, *, page: PageContext[_TToken]) -> HTTPRequest:
        # One page at a time still waits out a pause that a 429 (or a spent quota) of any stream set.
        self.rate_gate.wait_until_open()
        return super().get_http_request(page=page)

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        paginator = self.get_new_paginator()
        if self.http.max_concurrent_requests <= 1 or not callable(getattr(paginator, "token_after", None)):
            yield from super().request_records(context)
            return
        ahead = t.cast("PagesAheadPaginator[_TToken]", paginator)
        pages: PagesAhead[_TToken, requests.Response] = PagesAhead(
            first=ahead.current_value,
            next_token=ahead.token_after,
            fetch=lambda token: self.fetch_page(context, token, stop=pages.finished),
            is_last=lambda response: not ahead.has_more(response),
            ahead=lambda: self.rate_gate.allowed,
            name=self.name,
        )
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            for response in pages:
                request_counter.increment()
                yield from self.parse_response(response)

    def fetch_page(self, context: Context | None, token: _TToken, *, stop: threading.Event) -> requests.Response:
        """One page, with the stream's retries (on a worker thread); gives up once `stop` is set."""
        http_request = self.get_http_request(page=PageContext(stream_context=context, next_page_token=token))
        payload = "json" if self.payload_as_json else "data"
        prepared = self.build_prepared_request(
            method=http_request.method, url=http_request.url, params=http_request.encode_params(),
            headers=http_request.headers, **{payload: http_request.data},
        )

        def attempt(request: requests.PreparedRequest, _: Context | None) -> requests.Response:
            if stop.is_set():
                raise PagesFinishedError(self.name)
            with self.rate_gate.slot():
                response = self.requests_session.send(
                    request, timeout=self.timeout, allow_redirects=self.allow_redirects
                )
            self.validate_response(response)
            return response

        return self.request_decorator(attempt)(prepared, context)

    # Partitions and children ------------------------------------------------------------------------

    @override
    def generate_child_contexts(self, record: dict[str, t.Any], context: Context | None) -> Iterable[Context | None]:
        # Without child streams the SDK would still, for every record, build a child context, evaluate
        # the stream map's filter and copy the context for children that do not exist (a tenth of a
        # tap's time on a large export).
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if self.partitions_setting and not context:
            self.logger.info("%s: the `%s` setting is empty; there is nothing to read.", self.name,
                             self.partitions_setting)
            return []
        return super().get_records(context)

