"""The JSON formats of a customers export, read incrementally (spec §5.1).

`native_json` is `{"success": true, "fields": [...], "data": [[...], ...]}` and `table_json` is
`{"success": true, "header": [...], "rows": [[...], ...]}`. The members before the rows (the column
descriptor, `success`, an error) are scanned byte by byte and decoded as a small document of their own;
the rows are then decoded by ijson's C backend straight from the socket. JSON does not order keys, so a
body whose rows come before its descriptor is read too: the rows are spooled to a temporary file (disk,
not memory) until the descriptor arrives.
"""

from __future__ import annotations

import io
import tempfile
import typing as t

import ijson
import msgspec
from ijson.common import ObjectBuilder
from marketing_tapkit.errors import JSON_DECODE_ERRORS
from marketing_tapkit.readers import MalformedInputError, TruncatedInputError

from tap_bloomreach.envelope import envelope_error
from tap_bloomreach.export_table import ExportRefusedError, ExportTable, column_from_descriptor

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ROW_KEYS = {b"data": "native_json", b"rows": "table_json"}
_PEEK_BYTES = 1 << 16
_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
_WHITESPACE = frozenset(b" \t\r\n")


def read_json_export(reader: io.BufferedReader, source: str) -> ExportTable:
    prelude, rows_key = _scan_prelude(reader, source)
    try:
        head = _DECODER.decode(prelude)
    except JSON_DECODE_ERRORS as exc:
        raise MalformedInputError(source, f"the start of the export is not valid JSON ({exc})") from None
    if rows_key is None:  # a whole (small) document without rows: a refusal, or an empty export
        _raise_if_refused(head)
        if _descriptor(head) is None:
            raise MalformedInputError(source, "the body has neither fields/data nor header/rows")
        return _table(head, lambda _: iter(()), source)
    # Resume parsing as if the document were `{"<rows key>": [ ...rest of the body...`.
    rest = io.BufferedReader(_Prefixed(b'{"' + rows_key + b'":', reader), _PEEK_BYTES)
    key = rows_key.decode()
    if _descriptor(head) is not None:
        _raise_if_refused(head)
        return _table(head, lambda width: _json_rows(rest, key, source, width), source)
    return _rows_before_descriptor(head, rest, key, source)


def _raise_if_refused(document: dict[str, t.Any]) -> None:
    if (message := envelope_error(document)) is not None:
        raise ExportRefusedError(message, no_permission="permission" in message.lower())


def _descriptor(document: dict[str, t.Any]) -> list[t.Any] | None:
    for key in ("fields", "header"):
        if isinstance(document.get(key), list):
            return t.cast("list[t.Any]", document[key])
    return None


def _table(document: dict[str, t.Any], checked_rows: t.Callable[[int], Iterator[list[t.Any]]],
           source: str) -> ExportTable:
    """The table of `document`'s descriptor; `checked_rows(width)` gives its rows, each checked for width."""
    descriptor = _descriptor(document) or []
    try:
        columns = [column_from_descriptor(d) for d in descriptor]
    except ValueError as exc:
        raise MalformedInputError(source, str(exc)) from None
    export_format = "native_json" if "fields" in document else "table_json"
    return ExportTable(export_format, columns, checked_rows(len(columns)))


def _checked_width(rows: Iterator[list[t.Any]], width: int, source: str) -> Iterator[list[t.Any]]:
    for number, row in enumerate(rows, start=1):
        if type(row) is not list or len(row) != width:
            raise _width_error(source, row, width, number)
        yield row


def _width_error(source: str, row: t.Any, width: int, number: int) -> MalformedInputError:
    found = str(len(row)) if isinstance(row, list) else f"a {type(row).__name__}"
    return MalformedInputError(source, f"expected a row of {width} values, found {found}", line=number, unit="row")


def _json_rows(stream: t.BinaryIO | io.BufferedReader[t.Any], key: str, source: str, width: int
               ) -> Iterator[list[t.Any]]:
    """The rows under `key`, width-checked in the same loop (one generator per row, not two: it is hot)."""
    number = 0
    try:
        for number, row in enumerate(ijson.items(stream, f"{key}.item", use_float=True), start=1):
            if type(row) is not list or len(row) != width:
                raise _width_error(source, row, width, number)
            yield row
    except ijson.JSONError as exc:
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
    except ijson.JSONError as exc:
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
    return _table(document, lambda width: _checked_width(_replay(spool), width, source), source)


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
