"""The Evergage export bodies: one page, or a whole dataset streamed, as JSON or CSV (spec §2.3-2.4)."""

from __future__ import annotations

import itertools
import json
import typing as t

from sandbox.framework import Response, chunked, csv_body, json_array_stream, json_bytes, peek

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

CSV_COLUMNS = [
    "name", "accountName", "displayName", "emailAddress", "engagementScore",
    "engagementPercentChange", "firstActivity", "lastActivity", "totalActions",
]


def export_response(records: Iterator[dict[str, t.Any]], fmt: str, page_size: int | None) -> Response:
    """One page (`page_size` records from the iterator) or, without a page size, all of them, streamed."""
    selected: Iterable[dict[str, t.Any]] = (
        itertools.islice(records, page_size) if page_size is not None else records
    )
    if fmt == "csv":
        return Response.stream(chunked(csv_rows(selected)), "text/csv;charset=UTF-8")
    if page_size is not None:
        return Response(200, json_bytes(list(selected)), {"Content-Type": "application/json;charset=UTF-8"})
    return Response.stream(chunked(json_array_stream(selected, json_bytes)), "application/json;charset=UTF-8")


def csv_rows(records: Iterable[dict[str, t.Any]]) -> Iterator[bytes]:
    """CSV with the header the spec suggests (§2.4, GUESSED): built-in columns, the keys a request adds
    (`segmentJoined`, `segmentInputValues`, `location`), then one column per attribute.

    Nested values are written as JSON and booleans as `true`/`false` (GUESSED: the CSV's cell rendering
    is undocumented); None is an empty cell.
    """
    first, records = peek(records)
    # Users: CSV_COLUMNS, in the order the records hold them; accounts: their own keys.
    columns = [key for key in first if key != "attributes"] if first is not None else CSV_COLUMNS
    attributes = sorted(first.get("attributes") or {}) if first is not None else []
    rows = ([*(_cell(r.get(c)) for c in columns), *(_cell((r.get("attributes") or {}).get(a)) for a in attributes)]
            for r in records)
    yield from csv_body(rows, [*columns, *attributes])


def _cell(value: t.Any) -> t.Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value
