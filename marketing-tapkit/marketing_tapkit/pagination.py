"""Paginators for APIs that say nothing about paging but the size of the page they returned."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

import msgspec
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from marketing_tapkit.errors import JSON_DECODE_ERRORS
from marketing_tapkit.readers import MalformedInputError

if t.TYPE_CHECKING:
    import requests

_DECODED = "_tapkit_decoded_json"
_TToken = t.TypeVar("_TToken")


def decoded_json(response: requests.Response) -> t.Any:
    """The response body decoded with msgspec, once: the paginator and the parser share the result.

    A body that is not JSON raises `MalformedInputError` naming the request and where the JSON broke.
    """
    cached = response.__dict__.get(_DECODED, _DECODED)
    if cached is _DECODED:
        try:
            cached = msgspec.json.decode(response.content) if response.content.strip() else None
        except JSON_DECODE_ERRORS as exc:
            source = f"the response to {response.request.method} {urlsplit(response.url).path}"
            raise MalformedInputError(source, f"the body is not valid JSON ({exc})") from None
        response.__dict__[_DECODED] = cached
    return cached


class PagesAheadPaginator(t.Protocol[_TToken]):
    """A paginator that knows the next page's token before the current page arrives (page numbers,
    offsets over full pages), so `KitRESTStream` can fetch pages ahead in parallel."""

    current_value: _TToken

    def token_after(self, token: _TToken) -> _TToken:
        """The token of the page after the page of `token`, assuming that page is full."""
        ...

    def has_more(self, response: requests.Response) -> bool:
        """Whether the collection goes on after this page."""
        ...


class PageNumberUntilShortPaginator(PageNumberPaginator):
    """Page numbers from `start_value`, stopping after a page with fewer than `page_size` records.

    For bare-array APIs with no total and no next link (Evergage users, Cordial lists): a short page,
    or an empty one, is the last (spec evergage.md §3).
    """

    def __init__(self, start_value: int, page_size: int) -> None:
        super().__init__(start_value)
        self.page_size = page_size

    @override
    def has_more(self, response: requests.Response) -> bool:
        page = decoded_json(response)
        return isinstance(page, list) and len(page) >= self.page_size

    def token_after(self, token: int) -> int:
        """Page numbers are known ahead: the next is this one plus one."""
        return token + 1
