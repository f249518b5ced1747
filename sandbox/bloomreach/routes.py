"""Routes of the Bloomreach Engagement (ex-Exponea) read API (spec: shared/specs/bloomreach.md).

What it implements, with the spec section it follows:
- Private access with HTTP Basic (API key id : secret): a missing header is 401 `Access key not provided`,
  an unknown key 401 `Access key not found`, a wrong secret 403 `invalid secret`, an unknown project
  token 400 `Invalid project id` (§2, §3.3, §12.1). A gzip-compressed request body is the generic 400
  (§2). Permissions per API group (§2 table): setting `permissions`; a missing one answers 403 with an
  `errors` list, or, with `no_permission_style: "text"`, the legacy plain-text `No Permission` in a 200
  (§3.2).
- `POST .../customers/export` in `native_json`, `table_json` and `csv` (§5.1): attribute selection
  (`properties_and_ids` or `some` with ids, properties and segmentations, columns in list order),
  `filter.type=segment` with `segment_index` (-1 = in no segment), `timezone` and `execution_time`
  (int32 unix seconds) checked here and by the analyses; the body is
  generated row by row and sent with chunked transfer, so millions of customers cost no memory. The
  UNVERIFIED table_json header reading is a setting (`table_header`: `bare` or `qualified`), and so is
  the order of the top-level keys (`json_key_order`: descriptor first, or the rows first).
- `POST .../customers/export-one` with the `errors._global` 404 (§5.2).
- Catalogs: list, get (with `fields`), items with `count` (default 20), `skip`, `query`, `field`,
  `order`, and the 400 when `count + skip > 1001` (§6.1-6.4); for tests, settings `items_page_cap` (fewer
  items per page than asked) and `items_max_skip` (a page refused deep into a scan).
- `GET .../consent/categories`, needing no permission (§7.1).
- `POST .../analyses/{segmentation,report,funnel}` as `{name, header, rows}` or CSV (§8).
- Error bodies in each documented shape (§3.2): `error` (auth), `errors` list (validation),
  `errors._global` (not found), `success: false` in a 200 (an unknown segmentation in a filter), the
  HTML 404 of an unknown path; plus the framework's faults.
- Setting `extra_properties` adds customer properties between runs (schema evolution tests).
"""

from __future__ import annotations

import json
import typing as t
from http import HTTPStatus

from typing_extensions import override

from sandbox.bloomreach.data import (
    CONSENT_CATEGORIES,
    CustomerData,
    catalog_fields,
    catalog_item,
    catalog_items,
    matches_query,
    sort_key,
)
from sandbox.bloomreach.exports import analysis_export, customers_export
from sandbox.framework import Emulator, HTTPError, Request, Response, route

PROJECT = r"/data/v2/projects/(?P<token>[^/]+)"
EXPORT_CUSTOMERS = "GDPR > Export customers"
EXPORT_CUSTOMER = "GDPR > Export customer"
EXPORT_ANALYSES = "GDPR > Export analyses"
CATALOG_LIST = "Catalogs > Get catalog list"
CATALOG_ITEMS = "Catalogs > Get catalog items"
CATALOG_ITEM = "Catalogs > Get catalog item"
ALL_PERMISSIONS = [EXPORT_CUSTOMERS, EXPORT_CUSTOMER, EXPORT_ANALYSES, CATALOG_LIST, CATALOG_ITEMS, CATALOG_ITEM]
NO_PERMISSION_MESSAGES = {
    EXPORT_CUSTOMERS: "No permission to export customers",
    EXPORT_CUSTOMER: "No permission to export customer",
    EXPORT_ANALYSES: "No permission to export analyses",
    CATALOG_LIST: "No permission to get catalog list",
    CATALOG_ITEMS: "No permission to get catalog items",
    CATALOG_ITEM: "No permission to get catalog item",
}
CATALOG_ITEMS_REACH = 1001  # count + skip may not exceed this (spec §6.3)
NOT_FOUND_HTML = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again.</p>\n"
)


class BloomreachEmulator(Emulator):
    vendor = "bloomreach"
    default_port = 8704
    default_settings: t.ClassVar[dict[str, t.Any]] = {
        "project_token": "sandbox-project-token",
        "api_key_id": "sandbox-bloomreach-key-id",
        "api_secret": "sandbox-bloomreach-secret-92ab",
        "permissions": ALL_PERMISSIONS,
        "no_permission_style": "403",  # 403 | text
        "table_header": "bare",  # bare | qualified: table_json/csv header entries (spec §5.1 UNVERIFIED)
        "json_key_order": "descriptor_first",  # descriptor_first | data_first
        "extra_properties": [],
        # Not documented behaviour, for tests of a tap's paging: answer at most this many items per page
        # (None: `count`), and refuse a `skip` deeper than this (None: only `count + skip > 1001`).
        "items_page_cap": None,
        "items_max_skip": None,
        "segmentations": [
            {"id": "606488856f8cf6f848b20af8", "name": "buyers by source",
             "segments": ["online buyers", "offline buyers", "window shoppers"]},
            {"id": "5f3a1c2b9d8e7f6a5b4c3d2e", "name": "lifecycle", "segments": ["new", "active", "lapsed"]},
        ],
        "reports": [{"id": "5b7d0b3e1f2a3c4d5e6f7a8b", "name": "test_report"}],
        "funnels": [{"id": "5b7d0b3e1f2a3c4d5e6f7a8c", "name": "test_funnel"}],
        "catalogs": [
            {"id": "5b69de5bc0e6a1000e7f0b51", "name": "products", "item_prefix": "sku", "size": 60,
             "categories": 8, "brands": 5},
            {"id": "5b69de5bc0e6a1000e7f0b52", "name": "stores", "item_prefix": "store", "size": 12},
        ],
    }

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._segment_sizes: dict[str, list[int]] = {}

    @override
    def on_settings_changed(self) -> None:
        self._segment_sizes.clear()

    @property
    def data(self) -> CustomerData:
        return CustomerData(self.settings)

    # Errors ---------------------------------------------------------------------------------------

    @override
    def error_response(self, error: HTTPError) -> Response:
        """Render `error` in the shape Bloomreach uses for its kind (spec §3.2)."""
        shape = error.extra.get("shape")
        if shape is None and error.status == HTTPStatus.NOT_FOUND:
            return Response(404, NOT_FOUND_HTML.encode(), {"Content-Type": "text/html; charset=utf-8", **error.headers})
        if shape == "text":
            return Response(error.status, error.message.encode(), {"Content-Type": "text/plain", **error.headers})
        body: dict[str, t.Any] = {"success": False}
        if shape == "errors":
            body["errors"] = [error.message]
        elif shape == "global":
            body["errors"] = {"_global": [error.message]}
        else:
            body["error"] = error.message
        return Response.json(body, status=error.status, headers=error.headers)

    def _authorize(self, request: Request, token: str, permission: str | None) -> dict[str, t.Any]:
        """Check auth, project and permission in the API's order; return the JSON body (or {})."""
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            raise HTTPError(400, "BadRequest: The browser (or proxy) sent a request that this server could "
                                 "not understand.")
        credentials = request.basic_auth()
        if credentials is None:
            raise HTTPError(401, "Access key not provided")
        key_id, secret = credentials
        if key_id != self.settings["api_key_id"]:
            raise HTTPError(401, "Access key not found")
        if secret != self.settings["api_secret"]:
            raise HTTPError(403, "invalid secret")
        if token != self.settings["project_token"]:
            raise HTTPError(400, "Invalid project id")
        if permission and permission not in self.settings.get("permissions", []):
            if self.settings.get("no_permission_style") == "text":
                raise HTTPError(200, "No Permission", shape="text")
            raise HTTPError(403, NO_PERMISSION_MESSAGES[permission], shape="errors")
        if request.method != "POST":
            return {}
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise HTTPError(400, "Invalid JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "Invalid JSON")
        return body

    # Customers ------------------------------------------------------------------------------------

    @route("POST", PROJECT + r"/customers/export")
    def export_customers(self, request: Request, token: str) -> Response:
        body = self._authorize(request, token, EXPORT_CUSTOMERS)
        return customers_export(self.settings, self.data, body)

    @route("POST", PROJECT + r"/customers/export-one")
    def export_one(self, request: Request, token: str) -> Response:
        body = self._authorize(request, token, EXPORT_CUSTOMER)
        customer_ids = body.get("customer_ids")
        if not isinstance(customer_ids, dict) or not customer_ids:
            raise HTTPError(400, "At least one id should be specified.", shape="errors")
        registered = str(customer_ids.get("registered", ""))
        index = int(registered.rpartition("-")[2]) if registered.rpartition("-")[2].isdigit() else -1
        data = self.data
        ids, properties = data.customer(index) if 0 <= index < data.size else ({}, {})
        if ids.get("registered") != registered:
            raise HTTPError(404, "Customer does not exist", shape="global")
        return Response.json({"success": True, "ids": ids, "properties": properties, "events": []})

    # Catalogs -------------------------------------------------------------------------------------

    def _catalog(self, catalog_id: str) -> dict[str, t.Any]:
        for catalog in self.settings["catalogs"]:
            if catalog["id"] == catalog_id:
                return t.cast("dict[str, t.Any]", catalog)
        raise HTTPError(404, "Catalog does not exist", shape="global")

    @route("GET", PROJECT + r"/catalogs")
    def list_catalogs(self, request: Request, token: str) -> Response:
        self._authorize(request, token, CATALOG_LIST)
        data = [{"id": c["id"], "name": c["name"]} for c in self.settings["catalogs"]]
        return Response.json({"success": True, "data": data})

    @route("GET", PROJECT + r"/catalogs/(?P<catalog_id>[^/]+)")
    def get_catalog(self, request: Request, token: str, catalog_id: str) -> Response:
        self._authorize(request, token, CATALOG_LIST)
        catalog = self._catalog(catalog_id)
        return Response.json({"success": True, "data": {
            "id": catalog["id"], "name": catalog["name"], "fields": catalog_fields(catalog),
            "is_product_catalog": bool(catalog.get("categories")),
        }})

    @route("GET", PROJECT + r"/catalogs/(?P<catalog_id>[^/]+)/items")
    def list_items(self, request: Request, token: str, catalog_id: str) -> Response:
        self._authorize(request, token, CATALOG_ITEMS)
        catalog = self._catalog(catalog_id)
        count = request.int_arg("count", 20) or 0
        skip = request.int_arg("skip", 0) or 0
        if count < 0 or skip < 0:
            raise HTTPError(400, "count and skip must not be negative", shape="errors")
        if count + skip > CATALOG_ITEMS_REACH:
            raise HTTPError(400, f"count + skip must not exceed {CATALOG_ITEMS_REACH}", shape="errors")
        max_skip = self.settings.get("items_max_skip")
        if max_skip is not None and skip > int(max_skip):
            raise HTTPError(400, f"skip must not exceed {max_skip}", shape="errors")
        page_cap = self.settings.get("items_page_cap")
        count = min(count, int(page_cap)) if page_cap else count
        query, field = request.arg("query"), request.arg("field")
        items = [item for item in catalog_items(self.seed, catalog)
                 if not query or matches_query(item, query, field)]
        for clause in reversed([c.strip() for c in (request.arg("order") or "").split(",") if c.strip()]):
            column, _, direction = clause.partition(" ")
            if direction.strip().lower() not in {"", "asc", "desc"}:
                raise HTTPError(400, f"order {clause!r} must be 'column asc' or 'column desc'", shape="errors")
            items.sort(key=sort_key(column), reverse=direction.strip().lower() == "desc")
        return Response.json({
            "success": True, "data": items[skip: skip + count], "limit": count, "matched": len(items),
            "matched_limited": False, "skip": skip, "total": int(catalog.get("size", 0)),
        })

    @route("GET", PROJECT + r"/catalogs/(?P<catalog_id>[^/]+)/items/(?P<item_id>[^/]+)")
    def get_item(self, request: Request, token: str, catalog_id: str, item_id: str) -> Response:
        self._authorize(request, token, CATALOG_ITEM)
        catalog = self._catalog(catalog_id)
        index_text = item_id.rpartition("-")[2]
        index = int(index_text) if index_text.isdigit() else -1
        if not 0 <= index < int(catalog.get("size", 0)):
            raise HTTPError(404, "Catalog item does not exist", shape="global")
        return Response.json({"success": True, "data": catalog_item(self.seed, catalog, index)})

    # Consents and analyses ------------------------------------------------------------------------

    @route("GET", PROJECT + r"/consent/categories")
    def consent_categories(self, request: Request, token: str) -> Response:
        self._authorize(request, token, None)  # needs no permission (spec §7.1)
        return Response.json({"success": True, "results": CONSENT_CATEGORIES})

    @route("POST", PROJECT + r"/analyses/(?P<kind>segmentation|report|funnel)")
    def analysis(self, request: Request, token: str, kind: str) -> Response:
        body = self._authorize(request, token, EXPORT_ANALYSES)
        return analysis_export(self.settings, kind, body, self.segment_sizes)

    def segment_sizes(self, segmentation_id: str) -> list[int]:
        """How many customers each segment of a segmentation holds (counted once per settings)."""
        sizes = self._segment_sizes.get(segmentation_id) or self.data.segment_sizes(segmentation_id)
        self._segment_sizes[segmentation_id] = sizes
        return sizes
