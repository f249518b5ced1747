"""Streaming reader of a `customers/export` body in any of its formats (spec §5.1).

The body is one document holding the whole customer base (possibly gigabytes), so it is parsed as it
arrives: whatever format the tap asked for, the reader looks at the first bytes and accepts
- `native_json`: `{"success": true, "fields": [{"type": "id", "id": "registered"}, ...], "data": [[...], ...]}`;
- `table_json`: `{"success": true, "header": ["registered", ...], "rows": [[...], ...]}`, header entries
  bare (`registered`) or qualified (`id.registered`): the spec marks the reading UNVERIFIED, so both;
- `csv`: a header row, then one row per customer; soft ids (lists) as JSON array text.
The JSON formats are read by `export_json`, CSV by the kit's CSV reader; both yield an `ExportTable`
(`export_table`).

Errors are `MalformedInputError` / `TruncatedInputError` (the kit) naming the row, and `ExportRefusedError`
for a body that is a refusal (`success: false`, or the plain-text `No Permission`, spec §3.2).
"""

from __future__ import annotations

import codecs
import io
import typing as t

import msgspec
from marketing_tapkit.readers import (
    CSVOptions,
    MalformedInputError,
    TruncatedInputError,
    open_csv_table,
    open_decompressed,
)

from tap_bloomreach.envelope import is_no_permission_text
from tap_bloomreach.export_json import read_json_export
from tap_bloomreach.export_table import ExportRefusedError, ExportTable, column_from_descriptor

_PEEK_BYTES = 1 << 16
_DECODER = msgspec.json.Decoder()


def read_export(raw: t.BinaryIO | t.IO[bytes], source: str) -> ExportTable:
    """Open an export body: read up to the first row, and return its columns and a row iterator."""
    reader = open_decompressed(raw, source)
    head = reader.peek(_PEEK_BYTES)[:_PEEK_BYTES]
    if head.startswith(codecs.BOM_UTF8):
        reader.read(len(codecs.BOM_UTF8))
        head = head[len(codecs.BOM_UTF8):]
    start = head.lstrip()
    if not start:
        raise TruncatedInputError(source, "the export body is empty")
    if is_no_permission_text(start[:64]):
        raise ExportRefusedError(start[:200].decode("utf-8", "replace").strip(), no_permission=True)
    if start.startswith(b"{"):
        return read_json_export(reader, source)
    if start.startswith(b"["):
        raise MalformedInputError(source, "expected a JSON object with fields/data or header/rows, got an array")
    return _read_csv_export(reader, source)


# CSV ------------------------------------------------------------------------------------------------

#: The export's CSV is comma-separated with a header row (spec §5.1); detecting `|` could only misread it.
_EXPORT_CSV = CSVOptions(delimiter=",")


def _read_csv_export(reader: io.BufferedReader, source: str) -> ExportTable:
    table = open_csv_table(reader, source, options=_EXPORT_CSV)
    columns = [column_from_descriptor(name) for name in table.columns]
    return ExportTable("csv", columns, ([_csv_value(cell) for cell in row] for _, row in table.rows))


def _csv_value(cell: str) -> t.Any:
    """An empty cell is null; a JSON array (a soft id's values, GUESSED CSV rendering) becomes a list."""
    if not cell:
        return None
    if cell[0] == "[" and cell[-1] == "]":
        try:
            value = _DECODER.decode(cell)
        except msgspec.DecodeError:
            return cell
        return value if isinstance(value, list) else cell
    return cell
