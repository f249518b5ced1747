"""Emulator of the Bloomreach Engagement (ex-Exponea) read API (spec: shared/specs/bloomreach.md).

What it implements, with the spec section it follows:
- Private access with HTTP Basic (API key id : secret): a missing header is 401 `Access key not provided`,
  an unknown key 401 `Access key not found`, a wrong secret 403 `invalid secret`, an unknown project
  token 400 `Invalid project id` (§2, §3.3, §12.1). A gzip-compressed request body is the generic 400
  (§2). Permissions per API group (§2 table): setting `permissions`; a missing one answers 403 with an
  `errors` list, or, with `no_permission_style: "text"`, the legacy plain-text `No Permission` in a 200
  (§3.2).
- `POST .../customers/export` in `native_json`, `table_json` and `csv` (§5.1): attribute selection
  (`properties_and_ids` or `some` with ids, properties and segmentations, columns in list order),
  `filter.type=segment` with `segment_index` (-1 = in no segment), `timezone` checked; the body is
  generated row by row and sent with chunked transfer, so millions of customers cost no memory. The
  UNVERIFIED table_json header reading is a setting (`table_header`: `bare` or `qualified`), and so is
  the order of the top-level keys (`json_key_order`: descriptor first, or the rows first).
- `POST .../customers/export-one` with the `errors._global` 404 (§5.2).
- Catalogs: list, get (with `fields`), items with `count` (default 20), `skip`, `query`, `field`,
  `order`, and the 400 when `count + skip > 1001` (§6.1-6.4).
- `GET .../consent/categories`, needing no permission (§7.1).
- `POST .../analyses/{segmentation,report,funnel}` as `{name, header, rows}` or CSV (§8).
- Error bodies in each documented shape (§3.2): `error` (auth), `errors` list (validation),
  `errors._global` (not found), `success: false` in a 200 (an unknown segmentation in a filter), the
  HTML 404 of an unknown path; plus the framework's faults.
- Setting `extra_properties` adds customer properties between runs (schema evolution tests).
"""

from __future__ import annotations

import csv
import io
import json
import typing as t
import zoneinfo
from http import HTTPStatus

from typing_extensions import override

from sandbox.bloomreach_data import (
    CONSENT_CATEGORIES,
    Column,
    CustomerData,
    catalog_fields,
    catalog_item,
    catalog_items,
    matches_query,
    sort_key,
)
from sandbox.framework import (
    Emulator,
    HTTPError,
    Request,
    Response,
    chunked,
    json_bytes,
    route,
    stable_hash,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

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
EXPORT_FORMATS = ("csv", "table_json", "native_json")
ATTRIBUTE_KINDS = ("id", "property", "segmentation", "expression", "aggregate", "prediction")
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
        export_format = body.get("format")
        if export_format not in EXPORT_FORMATS:
            raise HTTPError(400, "format must be one of csv, table_json", shape="errors")
        _check_timezone(body.get("timezone"))
        if body.get("execution_time") is not None and not isinstance(body["execution_time"], int):
            raise HTTPError(400, "execution_time must be a unix timestamp in seconds", shape="errors")
        data = self.data
        columns = self._columns(data, body.get("attributes"))
        segment = self._segment_filter(body.get("filter"))
        rows = data.rows(columns, segment)
        if export_format == "native_json":
            fields = json_bytes([c.descriptor() for c in columns])
            pieces = self._json_document(b'"fields":' + fields, b'"data":', rows)
            return Response.stream(chunked(pieces), "application/json")
        header = [self._header_name(c) for c in columns]
        if export_format == "table_json":
            pieces = self._json_document(b'"header":' + json_bytes(header), b'"rows":', rows)
            return Response.stream(chunked(pieces), "application/json")
        return Response.stream(chunked(_csv_lines(header, rows)), "text/csv; charset=utf-8")

    def _header_name(self, column: Column) -> str:
        return f"{column.kind}.{column.name}" if self.settings.get("table_header") == "qualified" else column.name

    def _json_document(self, descriptor: bytes, rows_key: bytes, rows: Iterable[list[t.Any]]) -> Iterator[bytes]:
        """`{"success":true, <descriptor>, <rows_key>[...]}`, the rows written one by one."""
        rows_first = self.settings.get("json_key_order") == "data_first"
        yield b"{" + (rows_key if rows_first else b'"success":true,' + descriptor + b"," + rows_key) + b"["
        first = True
        for row in rows:
            yield json_bytes(row) if first else b"," + json_bytes(row)
            first = False
        yield b"]," + descriptor + b',"success":true}' if rows_first else b"]}"

    @staticmethod
    def _columns(data: CustomerData, attributes: t.Any) -> list[Column]:
        if attributes is None:
            return data.default_columns()
        kind = attributes.get("type", "properties_and_ids") if isinstance(attributes, dict) else None
        if kind == "properties_and_ids":
            return data.default_columns()
        if kind != "some":
            raise HTTPError(400, "attributes.type must be one of properties_and_ids, some", shape="errors")
        columns = []
        for item in attributes.get("list") or []:
            item_kind = item.get("type") if isinstance(item, dict) else None
            key = "property" if item_kind == "property" else "id"
            if item_kind not in ATTRIBUTE_KINDS or not isinstance(item.get(key), str):
                raise HTTPError(400, f"Attribute {json.dumps(item)} is not properly defined", shape="errors")
            columns.append(Column(item_kind, item[key]))
        if not columns:
            raise HTTPError(400, "attributes.list must not be empty", shape="errors")
        return columns

    def _segment_filter(self, export_filter: t.Any) -> tuple[str, int] | None:
        if export_filter is None or (isinstance(export_filter, dict) and export_filter.get("type", "all") == "all"):
            return None
        if not isinstance(export_filter, dict) or export_filter.get("type") != "segment":
            raise HTTPError(400, "filter.type must be one of all, segment", shape="errors")
        segmentation_id = export_filter.get("segmentation_id")
        segmentation = next((s for s in self.settings["segmentations"] if s["id"] == segmentation_id), None)
        if segmentation is None:
            # An invalid request answered with HTTP 200 and success: false (spec §3.3).
            raise HTTPError(200, f"Segmentation {segmentation_id} does not exist")
        index = export_filter.get("segment_index")
        if not isinstance(index, int) or not -1 <= index < len(segmentation["segments"]):
            raise HTTPError(400, f"segment_index must be -1 or 0..{len(segmentation['segments']) - 1}",
                            shape="errors")
        return str(segmentation_id), index

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
        if body.get("format") not in {"csv", "table_json"}:
            raise HTTPError(400, "format must be one of csv, table_json", shape="errors")
        _check_timezone(body.get("timezone"))
        analysis_id = body.get("analysis_id")
        name, header, rows = self._analysis_table(kind, analysis_id)
        if body["format"] == "csv":
            return Response.stream(chunked(_csv_lines(header, iter(rows))), "text/csv; charset=utf-8")
        return Response.json({"success": True, "name": name, "header": header, "rows": rows})

    def _analysis_table(self, kind: str, analysis_id: t.Any) -> tuple[str, list[str], list[list[t.Any]]]:
        if kind == "segmentation":
            segmentation = next((s for s in self.settings["segmentations"] if s["id"] == analysis_id), None)
            if segmentation is None:
                raise HTTPError(400, f"Analysis {analysis_id} does not exist", shape="errors")
            sizes = self._segment_sizes.get(analysis_id) or self.data.segment_sizes(analysis_id)
            self._segment_sizes[analysis_id] = sizes
            rows = []
            for position, (segment, size) in enumerate(zip(segmentation["segments"], sizes, strict=True)):
                purchases = size * 2 + stable_hash(self.seed, analysis_id, position) % 7
                average = round(20 + stable_hash(self.seed, analysis_id, "avg", position) % 8000 / 100, 3)
                rows.append([segment, purchases, average if size else None, size])
            header = ["segment", "count(purchase)", "avg(purchase.total_price)", "#"]
            return segmentation["name"], header, rows
        analyses = self.settings["reports" if kind == "report" else "funnels"]
        analysis = next((a for a in analyses if a["id"] == analysis_id), None)
        if analysis is None:
            raise HTTPError(400, f"Analysis {analysis_id} does not exist", shape="errors")
        if kind == "report":
            return analysis["name"], ["cookie id", "count(customer)"], [["test1", 1], ["test2", 2]]
        header = ["serie", "step 1 first_session count", "step 2 session_start count",
                  "step 2 session_start duration from previous"]
        return analysis["name"], header, [["Total", 2, 1, 435764.1615576744], ["Foo", 1, 1, 435764.1615576744]]


def _check_timezone(name: t.Any) -> None:
    if name is None:
        return
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise HTTPError(400, f"Invalid timezone {name}", shape="errors") from None


def _csv_cell(value: t.Any) -> t.Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))  # soft ids (lists) as JSON text (GUESSED)
    return value


def _csv_lines(header: list[str], rows: Iterator[list[t.Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        if buffer.tell() >= 16_384:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
