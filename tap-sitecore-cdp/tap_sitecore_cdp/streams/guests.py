"""Guest REST API streams: guests, their data extensions and their orders (spec §5)."""

from __future__ import annotations

import tempfile
import typing as t
from urllib.parse import urlsplit

import msgspec
from marketing_tapkit.schemas import open_schema
from typing_extensions import override

from tap_sitecore_cdp.client import GuestAPIStream, GuestScanPaginator
from tap_sitecore_cdp.schemas import EXTENSION_PROPERTIES, GUEST_PROPERTIES, ORDER_PROPERTIES

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from datetime import datetime

    import requests
    from singer_sdk.helpers.types import Context

#: Keys of a guest data extension that are Sitecore's own; every other key is the tenant's (spec §5.4).
EXTENSION_RESERVED_KEYS = frozenset({"href", "ref", "name", "key", "createdAt", "modifiedAt", "guest"})


def ref_from_href(href: t.Any) -> str | None:
    """The ref in a resource link: the last path segment (spec §5.2, `items[].href`)."""
    if not isinstance(href, str) or not href:
        return None
    return urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1] or None


def guest_record(item: dict[str, t.Any]) -> dict[str, t.Any]:
    """A guest from an expanded list item or `GET /guests/{ref}`, without its data extensions (own stream)."""
    record = {key: value for key, value in item.items() if key != "dataExtensions"}
    record.setdefault("ref", ref_from_href(item.get("href")))
    return record


def extension_items(guest: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The data extensions inside a guest: a collection's `items`, or a bare list."""
    extensions = guest.get("dataExtensions")
    items = extensions.get("items") if isinstance(extensions, dict) else extensions
    return [item for item in items or [] if isinstance(item, dict)]


def extension_record(guest_ref: str, extension: dict[str, t.Any]) -> dict[str, t.Any]:
    """One data extension: Sitecore's keys at the top, the tenant's custom keys inside `data` (spec §5.4)."""
    record = {key: extension.get(key) for key in ("name", "ref", "key", "href", "createdAt", "modifiedAt")}
    record["guest_ref"] = guest_ref
    record["name"] = record["name"] or ref_from_href(extension.get("href"))
    record["data"] = {key: value for key, value in extension.items() if key not in EXTENSION_RESERVED_KEYS}
    return record


class GuestScanSpool:
    """The guests of one scan of the guest list, kept on disk for the second stream that reads them.

    `guests` and `guest_data_extensions` both come from the expanded guest list. With both selected, the
    first of them to sync (the SDK syncs streams by name) reads the list and writes each listed guest
    here; the other then reads the guests from here instead of scanning the list again. Memory stays
    flat: one line per guest in a temporary file, read once.
    """

    def __init__(self, readers: Mapping[str, GuestListStream]) -> None:
        self._readers = readers
        self._file = tempfile.TemporaryFile(prefix="tap-sitecore-cdp-guests-")  # noqa: SIM115
        self._encoder = msgspec.json.Encoder()
        self._keep: Callable[[dict[str, t.Any]], dict[str, t.Any]] = dict
        #: The stream reading the list (the one that writes here).
        self.scanned_by: str | None = None
        #: When the scan began on the server's clock (see `GuestScanPaginator`); set once it read the whole list.
        self.started_at: datetime | None = None
        self.complete = False

    def claim(self, name: str) -> None:
        """`name` reads the list: keep what the other stream takes from each guest."""
        self.scanned_by = name
        self._keep = next(stream.kept_from for other, stream in self._readers.items() if other != name)

    def add(self, guest: dict[str, t.Any]) -> None:
        self._file.write(self._encoder.encode(self._keep(guest)) + b"\n")

    def finish(self, started_at: datetime | None) -> None:
        self.started_at, self.complete = started_at, True

    def guests(self) -> Iterator[dict[str, t.Any]]:
        """The guests kept, in list order; the file is deleted once they are read."""
        self._file.seek(0)
        decoder = msgspec.json.Decoder()
        with self._file:
            for line in self._file:
                yield decoder.decode(line)


class GuestListStream(GuestAPIStream):
    """A stream made from the expanded guest list; with both such streams selected, the list is read once."""

    path = "/v2.1/guests"

    def records_of(self, guest: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
        """This stream's records from one listed guest."""
        raise NotImplementedError

    def kept_from(self, guest: dict[str, t.Any]) -> dict[str, t.Any]:
        """What `records_of` reads of a listed guest (kept on disk when the other stream reads the list)."""
        return guest

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        spool = self.tap.guest_scan_spool
        if spool is not None and spool.complete and spool.scanned_by != self.name:
            # The other guest-list stream has just read the list: take its guests, and its scan's start
            # to cap this stream's bookmark (the API has no modified-since filter, spec §5.2).
            self.logger.info("%s: reading the guests %s read (one scan of the list)", self.name, spool.scanned_by)
            self.scan = GuestScanPaginator(self.page_size, spool.started_at)
            for guest in spool.guests():
                yield from self.records_of(guest)
            return
        if spool is not None and spool.scanned_by is None:
            spool.claim(self.name)
        yield from super().request_records(context)
        if spool is not None and spool.scanned_by == self.name:
            spool.finish(self.scan.started_at if self.scan is not None else None)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        spool = self.tap.guest_scan_spool
        keep = spool is not None and spool.scanned_by == self.name and not spool.complete
        for guest in super().parse_response(response):
            if keep:
                t.cast("GuestScanSpool", spool).add(guest)
            yield from self.records_of(guest)


class GuestsStream(GuestListStream):
    """Guest profiles, expanded in the list (no request per guest); their data extensions have their own stream."""

    name = "guests"
    primary_keys = ("ref",)
    replication_key = "modifiedAt"
    schema = open_schema(GUEST_PROPERTIES)

    @override
    def records_of(self, guest: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
        yield guest_record(guest)

    @override
    def kept_from(self, guest: dict[str, t.Any]) -> dict[str, t.Any]:
        return guest_record(guest)


class GuestDataExtensionsStream(GuestListStream):
    """One record per guest and data extension (`ext`, `ext1`...), from the expanded guest list."""

    name = "guest_data_extensions"
    primary_keys = ("guest_ref", "name")
    replication_key = "modifiedAt"
    schema = open_schema(EXTENSION_PROPERTIES)

    @override
    def kept_from(self, guest: dict[str, t.Any]) -> dict[str, t.Any]:
        return {key: guest[key] for key in ("ref", "href", "dataExtensions") if key in guest}

    @override
    def records_of(self, guest: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
        guest_ref = guest.get("ref") or ref_from_href(guest.get("href")) or ""
        for item in extension_items(guest):
            extension = item
            if "name" not in item and "key" not in item and item.get("href"):
                # Listed as a link only (nested expansion is INFERRED, spec §5.3): fetch it.
                extension = self.request_json("GET", urlsplit(item["href"]).path,
                                              what=f"Reading a data extension of {guest_ref}")
            yield extension_record(guest_ref, extension)


class OrdersStream(GuestAPIStream):
    """Each guest's orders. Off by default: there is no list of all orders, so it costs a request per guest."""

    name = "orders"
    path = "/v2.1/orders"
    primary_keys = ("ref",)
    replication_key = "modifiedAt"
    selected_by_default = False
    schema = open_schema(ORDER_PROPERTIES)
    #: The guest was deleted between listing it and asking for its orders: none to read.
    tolerated_http_errors = frozenset({404})

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        return {**super().get_url_params(context, next_page_token), "guestRef": (context or {})["guest_ref"]}

    @override
    def get_new_paginator(self) -> GuestScanPaginator:
        # One paging loop per guest, all of them one scan: its start carries over from guest to guest.
        self.scan = GuestScanPaginator(self.page_size, self.scan.started_at if self.scan is not None else None)
        return self.scan

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        self.scan = None  # a new scan: its first page of orders says when it started
        for guest_ref in self.guest_refs():
            for order in self.request_records({"guest_ref": guest_ref}):
                yield {**order, "guest_ref": guest_ref}

    def guest_refs(self) -> Iterator[str]:
        """Every guest's ref, from the unexpanded guest list (links only: cheaper than full guests)."""
        offset = 0
        while True:
            page = self.request_json("GET", "/v2.1/guests", params={"offset": offset, "limit": self.page_size},
                                     what="Listing guests")
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                return
            for item in items:
                if isinstance(item, dict) and (ref := item.get("ref") or ref_from_href(item.get("href"))):
                    yield ref
            limit = page.get("limit")
            if len(items) < (limit if isinstance(limit, int) and limit > 0 else self.page_size):
                return
            offset += len(items)
