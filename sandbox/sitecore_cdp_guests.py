"""The Guest REST API v2.1 half of the Sitecore CDP emulator (spec sitecore-cdp.md §5, and the official
OpenAPI beside it): Basic auth, offset-paged collections, guests with data extensions, and orders.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlencode

from sandbox import sitecore_cdp_data as data
from sandbox.framework import Emulator, HTTPError, Request, Response, route

if t.TYPE_CHECKING:
    from collections.abc import Iterable

MAX_LIMIT = 100  # the collections' `limit` maximum (spec §5.2)


class SitecoreGuestAPI(Emulator):
    """Routes of the Guest and Order REST APIs; `SitecoreCDPEmulator` adds the Audience export API."""

    def _require_basic(self, request: Request) -> None:
        if request.basic_auth() != (self.settings["client_key"], self.settings["api_token"]):
            raise HTTPError(401, "Bad client key or API token")


    @property
    def guest_count(self) -> int:
        return self.scale if self.settings.get("guests") is None else int(self.settings["guests"])

    def guest_index(self, ref: str) -> int:
        index = data.index_of_ref(ref, self.seed, "guest")
        if index is None or index >= self.guest_count:
            raise HTTPError(404, f"Guest with ref {ref} for client key {self.settings['client_key']} was not found")
        return index

    def expanded_guest(self, index: int, *, expand_extensions: bool) -> dict[str, t.Any]:
        touched = self.settings.get("touched_guests") or {}
        record = data.guest(self.seed, self.base_url, index, touched)
        names = data.extension_names(index)
        items = [
            data.data_extension(self.seed, self.base_url, index, name, touched) if expand_extensions
            else {"href": f"{record['href']}/extensions/{name}"}
            for name in names
        ]
        record["dataExtensions"] = {"href": f"{record['href']}/extensions?offset=0&limit=10", "offset": 0,
                                    "limit": 10, "items": items}
        return record

    def _page(
        self, request: Request, path: str, total: int, *, links: bool = True
    ) -> tuple[int, int, dict[str, t.Any]]:
        """Offset and limit of a collection request, and the collection's `href` and paging links (§5.2, §7)."""
        offset = request.int_arg("offset", 0) or 0
        limit = request.int_arg("limit", 10) or 0
        if offset < 0 or limit < 1:
            raise HTTPError(400, f"Invalid paging: offset={offset}, limit={limit}", summary="Invalid request")
        limit = min(limit, MAX_LIMIT)
        window = self.settings.get("max_offset_window")
        if window is not None and offset + limit > int(window):
            raise HTTPError(400, f"Result window is too large: offset + limit must be at most {window}",
                            summary="Invalid request")
        others = {k: v[0] for k, v in request.query.items() if k not in {"offset", "limit"}}

        def link(at: int) -> dict[str, str]:
            return {"href": f"{self.base_url}{path}?{urlencode({**others, 'offset': at, 'limit': limit})}"}

        capital = self.settings.get("link_case") == "capital"
        body: dict[str, t.Any] = {"href": link(offset)["href"], "offset": offset, "limit": limit}
        if not links:  # the extensions collection has no paging links (RetrieveDataGuestExtensionsResponse)
            return offset, limit, body
        body["First" if capital else "first"] = link(0)
        if offset + limit < total:
            body["Next" if capital else "next"] = link(offset + limit)
        if not capital:
            body["last"] = link(max(0, (total - 1) // limit * limit))
        return offset, limit, body

    @route("GET", r"/v2.1/guests")
    def guests(self, request: Request) -> Response:
        self._require_basic(request)
        indexes = self._guest_indexes(request)
        offset, limit, body = self._page(request, "/v2.1/guests", len(indexes))
        expand = (request.arg("expand") or "").lower() == "true"
        page = indexes[offset : offset + limit]
        expand_extensions = bool(self.settings.get("expand_extensions", True))
        body["items"] = [
            self.expanded_guest(i, expand_extensions=expand_extensions) if expand
            else {"href": f"{self.base_url}/v2.1/guests/{data.ref_for(i, self.seed, 'guest')}"}
            for i in page
        ]
        return Response.json(body)

    def _guest_indexes(self, request: Request) -> list[int] | range:
        indexes: list[int] | range = range(self.guest_count)
        touched = self.settings.get("touched_guests") or {}
        if email := request.arg("email"):
            indexes = [i for i in indexes if f"guest{i:06d}@example.com" == email]
        provider, identifier = request.arg("identifiers.provider"), request.arg("identifiers.id")
        if provider or identifier:
            if not (provider and identifier):
                raise HTTPError(400, "identifiers.provider and identifiers.id must be used together",
                                summary="Invalid request")
            indexes = [i for i in indexes if provider == "ProfileSystem" and identifier == f"PS-{i:08d}"]
        if sort := request.arg("sort"):
            for clause in reversed(sort.split("|")):
                name, _, direction = clause.partition("::")
                if direction not in {"ASC", "DESC"} or name not in {"createdAt", "modifiedAt", "email", "firstName"}:
                    raise HTTPError(400, f"Invalid sort clause {clause!r}: use field::ASC or field::DESC",
                                    summary="Invalid request")
                indexes = sorted(indexes, key=lambda i, n=name: data.guest(self.seed, "", i, touched)[n],
                                 reverse=direction == "DESC")
        return indexes

    @route("GET", r"/v2.1/guests/(?P<ref>[^/]+)")
    def guest(self, request: Request, ref: str) -> Response:
        self._require_basic(request)
        index = self.guest_index(ref)
        expand = (request.arg("expand") or "").lower() == "true"
        return Response.json(self.expanded_guest(index, expand_extensions=expand))

    @route("GET", r"/v2.1/guests/(?P<ref>[^/]+)/extensions")
    def extensions(self, request: Request, ref: str) -> Response:
        self._require_basic(request)
        index = self.guest_index(ref)
        names = data.extension_names(index)
        offset, limit, body = self._page(request, f"/v2.1/guests/{ref}/extensions", len(names), links=False)
        expand = (request.arg("expand") or "").lower() == "true"
        touched = self.settings.get("touched_guests") or {}
        body["items"] = [
            data.data_extension(self.seed, self.base_url, index, name, touched) if expand
            else {"href": f"{self.base_url}/v2.1/guests/{ref}/extensions/{name}"}
            for name in names[offset : offset + limit]
        ]
        return Response.json(body)

    @route("GET", r"/v2.1/guests/(?P<ref>[^/]+)/extensions/(?P<name>[^/]+)")
    def extension(self, request: Request, ref: str, name: str) -> Response:
        self._require_basic(request)
        index = self.guest_index(ref)
        if name not in {"ext", "ext1", "ext2", "ext3", "ext4", "ext5"}:
            raise HTTPError(400, "Attribute name is invalid (value must be one of ext,ext1,ext2,ext3,ext4,ext5).",
                            summary="Invalid request")
        if name not in data.extension_names(index):
            raise HTTPError(404, f"Data extension {name} for Guest ref {ref} and client key "
                                 f"{self.settings['client_key']} was not found for v2.1")
        touched = self.settings.get("touched_guests") or {}
        return Response.json(data.data_extension(self.seed, self.base_url, index, name, touched))

    @route("GET", r"/v2.1/orders")
    def orders(self, request: Request) -> Response:
        self._require_basic(request)
        guest_ref, reference_id = request.arg("guestRef"), request.arg("referenceId")
        if bool(guest_ref) == bool(reference_id):
            raise HTTPError(400, "Exactly one of guestRef or referenceId is required", summary="Invalid request")
        found: Iterable[tuple[int, int]]
        if guest_ref:
            index = self.guest_index(guest_ref)
            found = [(index, n) for n in range(data.order_count(self.seed, index))]
        else:
            found = self._order_by_reference(reference_id or "")
        found = list(found)
        offset, limit, body = self._page(request, "/v2.1/orders", len(found))
        expand = (request.arg("expand") or "").lower() == "true"
        items = []
        for index, number in found[offset : offset + limit]:
            record = data.order(self.seed, self.base_url, index, number)
            items.append(record if expand else {"href": record["href"], "ref": record["ref"]})
        body["items"] = items
        return Response.json(body)

    def _order_by_reference(self, reference_id: str) -> list[tuple[int, int]]:
        try:
            _, index_text, number_text = reference_id.split("-")
            index, number = int(index_text), int(number_text)
        except ValueError:
            return []
        ok = index < self.guest_count and number < data.order_count(self.seed, index)
        return [(index, number)] if ok else []

    @route("GET", r"/v2.1/orders/(?P<ref>[^/]+)")
    def order(self, request: Request, ref: str) -> Response:
        self._require_basic(request)
        packed = data.index_of_ref(ref, self.seed, "order")
        if packed is None or packed // 16 >= self.guest_count or packed % 16 >= data.order_count(
            self.seed, packed // 16
        ):
            raise HTTPError(404, f"Order with ref {ref} for client key {self.settings['client_key']} was not found")
        return Response.json(data.order(self.seed, self.base_url, packed // 16, packed % 16))
