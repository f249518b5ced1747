"""Bloomreach's export bodies: `POST .../customers/export` in `native_json`, `table_json` and `csv`
(spec §5.1), and the analyses as `{name, header, rows}` or CSV (§8).

A customers export is generated row by row and sent with chunked transfer, so that millions of
customers cost no memory. The request body is checked in the order the API checks it.
"""

from __future__ import annotations

import json
import typing as t
import zoneinfo

from sandbox.bloomreach.data import Column, CustomerData
from sandbox.framework import HTTPError, Response, chunked, csv_body, json_bytes, stable_hash

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

EXPORT_FORMATS = ("csv", "table_json", "native_json")
ATTRIBUTE_KINDS = ("id", "property", "segmentation", "expression", "aggregate", "prediction")
CSV_TYPE = "text/csv; charset=utf-8"
MAX_INT32 = 2**31 - 1  # `execution_time` is an int32 (spec §5.1)


def customers_export(settings: dict[str, t.Any], data: CustomerData, body: dict[str, t.Any]) -> Response:
    """The streamed answer to a customers export request `body`."""
    export_format = body.get("format")
    if export_format not in EXPORT_FORMATS:
        raise HTTPError(400, "format must be one of csv, table_json", shape="errors")
    check_evaluation(body)
    columns = export_columns(data, body.get("attributes"))
    segment = segment_filter(settings["segmentations"], body.get("filter"))
    rows = data.rows(columns, segment)
    rows_first = settings.get("json_key_order") == "data_first"
    if export_format == "native_json":
        fields = json_bytes([c.descriptor() for c in columns])
        pieces = json_document(b'"fields":' + fields, b'"data":', rows, rows_first=rows_first)
        return Response.stream(chunked(pieces), "application/json")
    qualified = settings.get("table_header") == "qualified"  # the UNVERIFIED header reading (spec §5.1)
    header = [f"{c.kind}.{c.name}" if qualified else c.name for c in columns]
    if export_format == "table_json":
        pieces = json_document(b'"header":' + json_bytes(header), b'"rows":', rows, rows_first=rows_first)
        return Response.stream(chunked(pieces), "application/json")
    return Response.stream(chunked(csv_lines(header, rows)), CSV_TYPE)


def json_document(
    descriptor: bytes, rows_key: bytes, rows: Iterable[list[t.Any]], *, rows_first: bool
) -> Iterator[bytes]:
    """`{"success":true, <descriptor>, <rows_key>[...]}` (or the rows first), the rows written one by one."""
    yield b"{" + (rows_key if rows_first else b'"success":true,' + descriptor + b"," + rows_key) + b"["
    first = True
    for row in rows:
        yield json_bytes(row) if first else b"," + json_bytes(row)
        first = False
    yield b"]," + descriptor + b',"success":true}' if rows_first else b"]}"


def export_columns(data: CustomerData, attributes: t.Any) -> list[Column]:
    """The columns an export's `attributes` selects, in list order (spec §5.1)."""
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


def segment_filter(segmentations: list[dict[str, t.Any]], export_filter: t.Any) -> tuple[str, int] | None:
    """(segmentation id, segment index) of a `filter.type=segment`, or None for every customer."""
    if export_filter is None or (isinstance(export_filter, dict) and export_filter.get("type", "all") == "all"):
        return None
    if not isinstance(export_filter, dict) or export_filter.get("type") != "segment":
        raise HTTPError(400, "filter.type must be one of all, segment", shape="errors")
    segmentation_id = export_filter.get("segmentation_id")
    segmentation = next((s for s in segmentations if s["id"] == segmentation_id), None)
    if segmentation is None:
        # An invalid request answered with HTTP 200 and success: false (spec §3.3).
        raise HTTPError(200, f"Segmentation {segmentation_id} does not exist")
    index = export_filter.get("segment_index")
    if not isinstance(index, int) or not -1 <= index < len(segmentation["segments"]):
        raise HTTPError(400, f"segment_index must be -1 or 0..{len(segmentation['segments']) - 1}",
                        shape="errors")
    return str(segmentation_id), index


def analysis_export(
    settings: dict[str, t.Any], kind: str, body: dict[str, t.Any], segment_sizes: Callable[[str], list[int]]
) -> Response:
    """The answer to `POST .../analyses/{kind}`; `segment_sizes(id)` counts a segmentation's customers."""
    if body.get("format") not in {"csv", "table_json"}:
        raise HTTPError(400, "format must be one of csv, table_json", shape="errors")
    check_evaluation(body)
    name, header, rows = analysis_table(settings, kind, body.get("analysis_id"), segment_sizes)
    if body["format"] == "csv":
        return Response.stream(chunked(csv_lines(header, iter(rows))), CSV_TYPE)
    return Response.json({"success": True, "name": name, "header": header, "rows": rows})


def analysis_table(
    settings: dict[str, t.Any], kind: str, analysis_id: t.Any, segment_sizes: Callable[[str], list[int]]
) -> tuple[str, list[str], list[list[t.Any]]]:
    """(name, header, rows) of one analysis (spec §8)."""
    if kind == "segmentation":
        segmentation = next((s for s in settings["segmentations"] if s["id"] == analysis_id), None)
        if segmentation is None:
            raise HTTPError(400, f"Analysis {analysis_id} does not exist", shape="errors")
        seed = int(settings["seed"])
        rows = []
        for position, (segment, size) in enumerate(
            zip(segmentation["segments"], segment_sizes(analysis_id), strict=True)
        ):
            purchases = size * 2 + stable_hash(seed, analysis_id, position) % 7
            average = round(20 + stable_hash(seed, analysis_id, "avg", position) % 8000 / 100, 3)
            rows.append([segment, purchases, average if size else None, size])
        header = ["segment", "count(purchase)", "avg(purchase.total_price)", "#"]
        return segmentation["name"], header, rows
    analyses = settings["reports" if kind == "report" else "funnels"]
    analysis = next((a for a in analyses if a["id"] == analysis_id), None)
    if analysis is None:
        raise HTTPError(400, f"Analysis {analysis_id} does not exist", shape="errors")
    if kind == "report":
        return analysis["name"], ["cookie id", "count(customer)"], [["test1", 1], ["test2", 2]]
    header = ["serie", "step 1 first_session count", "step 2 session_start count",
              "step 2 session_start duration from previous"]
    return analysis["name"], header, [["Total", 2, 1, 435764.1615576744], ["Foo", 1, 1, 435764.1615576744]]


def check_evaluation(body: dict[str, t.Any]) -> None:
    """`timezone` an IANA name, `execution_time` int32 unix seconds: both optional (spec §5.1, §8)."""
    name = body.get("timezone")
    if name is not None:
        try:
            zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise HTTPError(400, f"Invalid timezone {name}", shape="errors") from None
    moment = body.get("execution_time")
    if moment is not None and (type(moment) is not int or not 0 <= moment <= MAX_INT32):
        raise HTTPError(400, "execution_time must be a unix timestamp in seconds", shape="errors")


def csv_cell(value: t.Any) -> t.Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))  # soft ids (lists) as JSON text (GUESSED)
    return value


def csv_lines(header: list[str], rows: Iterator[list[t.Any]]) -> Iterator[bytes]:
    return csv_body(([csv_cell(v) for v in row] for row in rows), header)
