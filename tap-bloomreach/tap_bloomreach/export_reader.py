"""Streaming reader of a `customers/export` body in any of its formats (spec §5.1).

The body is one document holding the whole customer base (possibly gigabytes), so it is parsed as it
arrives: whatever format the tap asked for, the reader looks at the first bytes and accepts
- `native_json`: `{"success": true, "fields": [{"type": "id", "id": "registered"}, ...], "data": [[...], ...]}`;
- `table_json`: `{"success": true, "header": ["registered", ...], "rows": [[...], ...]}`, header entries
  bare (`registered`) or qualified (`id.registered`): the spec marks the reading UNVERIFIED, so both;
- `csv`: a header row, then one row per customer; soft ids (lists) as JSON array text.
In JSON the column descriptor is expected before the rows, and then the rows are decoded by ijson's C
backend straight from the socket. JSON does not order keys, so a body that puts the rows first is also
read: the rows are spooled to a temporary file (disk, not memory) until the descriptor arrives.

Errors are `MalformedInputError` / `TruncatedInputError` (tapkit) naming the row, and `ExportRefusedError`
for a body that is a refusal (`success: false`, or the plain-text `No Permission`, spec §3.2).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import typing as t
from dataclasses import dataclass

import ijson
import msgspec
from ijson.common import ObjectBuilder
from tapkit.readers import MalformedInputError, TruncatedInputError, open_decompressed

from tap_bloomreach.envelope import envelope_error, is_no_permission_text

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ROW_KEYS = {b"data": "native_json", b"rows": "table_json"}
_QUALIFIED = re.compile(r"\A(id|ids|property|properties)[.:](.+)\Z")
_PEEK_BYTES = 1 << 16
_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
_WHITESPACE = frozenset(b" \t\r\n")


class ExportRefusedError(Exception):
    """The API answered the export with a refusal instead of data (HTTP 200 with an error body)."""

    def __init__(self, message: str, *, no_permission: bool = False) -> None:
        super().__init__(message)
        self.no_permission = no_permission


@dataclass(frozen=True)
class ExportColumn:
    """One column of the export: its attribute type if the body says (`id`, `property`, ...), and name."""

    kind: str | None
    name: str


@dataclass
class ExportTable:
    """The export's columns and an iterator over its rows (lists, positionally matching `columns`)."""

    format: str
    columns: list[ExportColumn]
    rows: Iterator[list[t.Any]]


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
        return _read_json_export(reader, source)
    if start.startswith(b"["):
        raise MalformedInputError(source, "expected a JSON object with fields/data or header/rows, got an array")
    return _read_csv_export(reader, source)


def column_from_descriptor(descriptor: t.Any) -> ExportColumn:
    """A native_json `fields` entry (`{"type": "property", "property": "email"}`) or a header entry."""
    if isinstance(descriptor, str):
        match = _QUALIFIED.match(descriptor)
        if match:
            kind = "property" if match.group(1).startswith("propert") else "id"
            return ExportColumn(kind, match.group(2))
        return ExportColumn(None, descriptor)
    if isinstance(descriptor, dict):
        declared = descriptor.get("type")
        field_kind = str(declared) if declared is not None else None
        for key in (field_kind, "name", "id", "property"):
            if key and isinstance(descriptor.get(key), str):
                return ExportColumn(field_kind, descriptor[key])
    raise ValueError(f"cannot read a column name from {descriptor!r}")


# JSON -----------------------------------------------------------------------------------------------


def _read_json_export(reader: io.BufferedReader, source: str) -> ExportTable:
    prelude, rows_key = _scan_prelude(reader, source)
    try:
        head = _DECODER.decode(prelude)
    except msgspec.DecodeError as exc:
        raise MalformedInputError(source, f"the start of the export is not valid JSON ({exc})") from None
    if rows_key is None:  # a whole (small) document without rows: a refusal, or an empty export
        _raise_if_refused(head)
        if _descriptor(head) is None:
            raise MalformedInputError(source, "the body has neither fields/data nor header/rows")
        return _table(head, iter(()), source)
    # Resume parsing as if the document were `{"<rows key>": [ ...rest of the body...`.
    rest = io.BufferedReader(_Prefixed(b'{"' + rows_key + b'":', reader), _PEEK_BYTES)
    key = rows_key.decode()
    if _descriptor(head) is not None:
        _raise_if_refused(head)
        return _table(head, _json_rows(rest, key, source), source)
    return _rows_before_descriptor(head, rest, key, source)


def _raise_if_refused(document: dict[str, t.Any]) -> None:
    if (message := envelope_error(document)) is not None:
        raise ExportRefusedError(message, no_permission="permission" in message.lower())


def _descriptor(document: dict[str, t.Any]) -> list[t.Any] | None:
    for key in ("fields", "header"):
        if isinstance(document.get(key), list):
            return t.cast("list[t.Any]", document[key])
    return None


def _table(document: dict[str, t.Any], rows: Iterator[list[t.Any]], source: str) -> ExportTable:
    descriptor = _descriptor(document) or []
    try:
        columns = [column_from_descriptor(d) for d in descriptor]
    except ValueError as exc:
        raise MalformedInputError(source, str(exc)) from None
    export_format = "native_json" if "fields" in document else "table_json"
    return ExportTable(export_format, columns, _checked_width(rows, len(columns), source))


def _checked_width(rows: Iterator[list[t.Any]], width: int, source: str) -> Iterator[list[t.Any]]:
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != width:
            found = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
            raise MalformedInputError(source, f"expected a row of {width} values, found {found}",
                                      line=number, unit="row")
        yield row


def _json_rows(stream: t.BinaryIO | io.BufferedReader[t.Any], key: str, source: str) -> Iterator[list[t.Any]]:
    number = 0
    try:
        for number, row in enumerate(ijson.items(stream, f"{key}.item", use_float=True), start=1):  # noqa: B007
            yield row
    except ijson.IncompleteJSONError as exc:
        raise _json_error(source, exc, number) from None


def _json_error(source: str, exc: Exception, rows_read: int) -> MalformedInputError:
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    if "premature" in message.lower() or "incomplete" in message.lower():
        return TruncatedInputError(
            source, f"the body ended after row {rows_read}, before the JSON document was complete "
                    f"(the export was cut off: {message})", line=rows_read + 1, unit="row")
    return MalformedInputError(source, f"invalid JSON after row {rows_read} ({message})",
                               line=rows_read + 1, unit="row")


def _rows_before_descriptor(
    head: dict[str, t.Any], stream: t.BinaryIO | io.BufferedReader[t.Any], key: str, source: str
) -> ExportTable:
    """Read a body whose rows come before its `fields`/`header`: spool the rows to disk, then replay."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the replaying generator
    tail: dict[str, t.Any] = {}
    progress = [0]
    try:
        _spool_rows(ijson.parse(stream, use_float=True), key, spool, tail, progress)
    except ijson.IncompleteJSONError as exc:
        spool.close()
        raise _json_error(source, exc, progress[0]) from None
    except BaseException:
        spool.close()
        raise
    document = {**head, **tail}
    try:
        _raise_if_refused(document)
        if _descriptor(document) is None:
            raise MalformedInputError(source, f"the body has `{key}` but neither `fields` nor `header`")
    except BaseException:
        spool.close()
        raise
    return _table(document, _replay(spool), source)


def _spool_rows(events: t.Iterable[tuple[str, str, t.Any]], key: str, spool: t.IO[bytes],
                tail: dict[str, t.Any], progress: list[int]) -> None:
    """Write each row under `key` to `spool` as a JSON line; collect the other top-level keys in `tail`.

    `progress[0]` counts the rows spooled, so that an error can say where the body broke.
    """
    item_prefix = f"{key}.item"
    current: str | None = None
    value_builder: ObjectBuilder | None = None
    row_builder: ObjectBuilder | None = None
    for prefix, event, value in events:
        if prefix == "":
            if value_builder is not None and current is not None:
                tail[current] = value_builder.value
            value_builder = None
            if event == "map_key":
                current = value
                value_builder = None if value == key else ObjectBuilder()
            continue
        if current != key:
            if value_builder is not None:
                value_builder.event(event, value)
            continue
        if prefix == key:
            continue  # the start or end of the rows array itself
        if row_builder is None:
            row_builder = ObjectBuilder()
        row_builder.event(event, value)
        if prefix == item_prefix and event not in {"start_array", "start_map"}:
            spool.write(_ENCODER.encode(row_builder.value) + b"\n")
            row_builder = None
            progress[0] += 1


def _replay(spool: t.IO[bytes]) -> Iterator[list[t.Any]]:
    with spool:
        spool.seek(0)
        for line in spool:
            yield _DECODER.decode(line)


class _Prefixed(io.RawIOBase):
    """`prefix`, then the rest of `reader`: lets ijson resume a document whose start was consumed."""

    def __init__(self, prefix: bytes, reader: io.BufferedReader) -> None:
        self._prefix = prefix
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = self._reader.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _scan_prelude(reader: io.BufferedReader, source: str) -> tuple[bytes, bytes | None]:
    """Consume the top-level object up to the `[` that opens its rows; return what came before as JSON.

    Returns `(prelude, rows_key)`: the prelude is the object's other members closed into a document of
    its own, and the reader is left at the rows array. If the object has no rows key, the whole object
    is returned with `rows_key` None (an error body, or a small document read as a whole).
    """
    consumed = bytearray()
    depth = 0
    in_string = escaped = string_is_key = expect_key = False
    key_start = rows_key_start = -1
    pending_key: bytes | None = None  # the member name just read, until its colon
    value_of: bytes | None = None  # the member whose value starts at the next non-blank byte
    while True:
        chunk = reader.peek(_PEEK_BYTES)[:_PEEK_BYTES]
        if not chunk:
            raise TruncatedInputError(source, "the body ended inside its first JSON object, before any row")
        for offset, byte in enumerate(chunk):
            if in_string:
                if escaped:
                    escaped = False
                elif byte == 0x5C:  # backslash
                    escaped = True
                elif byte == 0x22:  # the closing quote
                    in_string = False
                    if string_is_key:
                        pending_key = bytes((consumed + chunk[:offset])[key_start + 1:])
                        string_is_key = False
                continue
            if value_of is not None:
                if byte in _WHITESPACE:
                    continue
                if value_of in ROW_KEYS and byte == 0x5B:  # the `[` that opens the rows
                    reader.read(offset)
                    consumed += chunk[:offset]
                    return bytes(consumed[:rows_key_start]).rstrip().rstrip(b",") + b"}", value_of
                value_of = None
            if byte == 0x22:
                in_string = True
                if depth == 1 and expect_key:
                    string_is_key, expect_key, key_start = True, False, len(consumed) + offset
            elif byte in b"{[":
                depth += 1
                expect_key = depth == 1 and byte == 0x7B
            elif byte in b"}]":
                depth -= 1
                if depth == 0:
                    reader.read(offset + 1)
                    consumed += chunk[: offset + 1]
                    return bytes(consumed), None
            elif depth == 1 and byte == 0x2C:  # a comma between members
                expect_key = True
            elif depth == 1 and byte == 0x3A and pending_key is not None:  # the colon after a name
                value_of, rows_key_start, pending_key = pending_key, key_start, None
        reader.read(len(chunk))
        consumed += chunk


# CSV ------------------------------------------------------------------------------------------------


def _read_csv_export(reader: io.BufferedReader, source: str) -> ExportTable:
    text = io.TextIOWrapper(reader, encoding="utf-8-sig", newline="")
    lines = csv.reader(text, strict=True)
    try:
        header = next(lines, None)
    except csv.Error as exc:
        raise MalformedInputError(source, f"the CSV header row is malformed ({exc})", line=1) from None
    if not header:
        raise TruncatedInputError(source, "the CSV body has no header row")
    columns = [column_from_descriptor(name.strip()) for name in header]
    return ExportTable("csv", columns, _csv_rows(lines, len(columns), source))


def _csv_rows(lines: t.Any, width: int, source: str) -> Iterator[list[t.Any]]:
    number = 0
    try:
        for row in lines:
            if not row:
                continue
            number += 1
            if len(row) != width:
                raise MalformedInputError(
                    source, f"expected {width} comma-separated values, found {len(row)} (a truncated or "
                            "malformed row)", line=lines.line_num)
            yield [_csv_value(cell) for cell in row]
    except csv.Error as exc:
        error = TruncatedInputError if "end of data" in str(exc) else MalformedInputError
        raise error(source, f"malformed CSV ({exc}; the body looks cut off)", line=lines.line_num) from None
    except UnicodeDecodeError as exc:
        raise MalformedInputError(source, f"not UTF-8 text ({exc.reason})", line=lines.line_num) from None


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
