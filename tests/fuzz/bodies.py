"""The sandbox's own writers, as the fuzz tests use them: one body per format, and the rows a reader
must give back for it."""

from __future__ import annotations

import codecs
import gzip
import typing as t

import msgspec

from sandbox.framework.bodies import csv_body, json_array_stream, json_lines

SOURCE = "part-0007.json.gz"
Record = dict[str, t.Any]


def cell_text(value: t.Any) -> str:
    """A value as the text of a CSV cell (None: an empty cell; nested values as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def csv_columns(records: list[Record]) -> list[str]:
    return sorted({name for record in records for name in record})


def write(fmt: str, records: list[Record], *, delimiter: str = ",", quote_all: bool = False,
          crlf: bool = False, bom: bool = False, gzipped: bool = False) -> bytes:
    """The bytes the emulators would serve for `records` in `fmt` (jsonl, json or csv)."""
    if fmt == "jsonl":
        body = b"".join(json_lines(records))
        if crlf:
            body = body.replace(b"\n", b"\r\n")  # JSON escapes newlines in strings: these are line ends
    elif fmt == "json":
        body = b"".join(json_array_stream(records))
    else:
        columns = csv_columns(records)
        rows = ([cell_text(r.get(c)) for c in columns] for r in records)
        body = b"".join(csv_body(rows, columns, delimiter=delimiter, quote_all=quote_all))
    if bom:
        body = codecs.BOM_UTF8 + body
    return gzip.compress(body, mtime=0) if gzipped else body


def expected(fmt: str, records: list[Record]) -> list[tuple[int, Record]]:
    """What a reader yields for `write(fmt, records)`: JSON values as written, CSV cells as text."""
    if fmt != "csv":
        return list(enumerate(records, start=1))
    columns = csv_columns(records)
    return [(n, {c: cell_text(r.get(c)) for c in columns}) for n, r in enumerate(records, start=1)]
