"""Streaming record readers: bytes in (an HTTP body, an object in a bucket, a file), records out.

Nothing here reads a whole input into memory. Each reader takes a binary file-like object, detects and
undoes gzip on the fly, and yields `(number, record)` pairs where `number` is the 1-based line (JSON
Lines), data row (CSV) or array element (JSON) of the record, so that callers can key and resume on it.
A malformed or truncated input raises `MalformedInputError` / `TruncatedInputError` naming the source,
the line or element, and what was wrong; errors of the transport underneath (a dropped connection)
propagate unchanged, because the caller may retry those.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import typing as t
import zlib
from dataclasses import dataclass

import ijson
import msgspec

from marketing_tapkit.errors import JSON_DECODE_ERRORS

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import requests

GZIP_MAGIC = b"\x1f\x8b"
_BUFFER_SIZE = 1 << 20
# The csv module refuses fields over 128 KiB by default, failing a valid file with one long value (a JSON
# blob in a cell). A bound stays, so that an unclosed quote fails before it has read a whole export.
CSV_FIELD_LIMIT = 64 << 20
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
_JSON_DECODER = msgspec.json.Decoder()

Record = dict[str, t.Any]
Numbered = tuple[int, Record]


class MalformedInputError(ValueError):
    """An input that cannot be parsed: says which source, where, and what was wrong."""

    def __init__(self, source: str, detail: str, *, line: int | None = None, unit: str = "line") -> None:
        self.source = source
        self.detail = detail
        self.line = line
        where = f"{source}, {unit} {line}" if line is not None else source
        super().__init__(f"{where}: {detail}")


class TruncatedInputError(MalformedInputError):
    """An input that ended before it was complete (a cut gzip member, an unclosed JSON array)."""


class CorruptInputError(MalformedInputError):
    """Compressed bytes that fail their checks (a gzip CRC or deflate error): damaged in storage or in
    transit, so fetching the input again may well succeed, unlike a file malformed at its source."""


class _TruncationGuard(io.RawIOBase):
    """Turns gzip's end-of-input complaints into `TruncatedInputError` while reading."""

    def __init__(self, inner: gzip.GzipFile, source: str) -> None:
        self._inner = inner
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        try:
            # read1: whatever is decompressed so far, so records before a cut are still delivered
            # (read(n) would wait for n bytes and lose them when the stream ends early).
            data = self._inner.read1(len(buffer))
        except EOFError as exc:
            raise TruncatedInputError(self._source, f"the gzip stream ended early ({exc})") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise CorruptInputError(self._source, f"the gzip stream is corrupt ({exc})") from None
        buffer[: len(data)] = data
        return len(data)


def open_decompressed(raw: t.BinaryIO | t.IO[bytes], source: str) -> io.BufferedReader:
    """Return a buffered binary reader over `raw`, gunzipping on the fly when it starts with gzip's magic.

    Detection is by content, not by name or Content-Type, because vendors serve gzip files as
    `application/octet-stream` and plain files named `.gz` (spec sitecore-cdp.md §5).
    """
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(
        t.cast("io.RawIOBase", raw), buffer_size=_BUFFER_SIZE
    )
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        gunzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
        return io.BufferedReader(_TruncationGuard(gunzipped, source), _BUFFER_SIZE)
    return buffered


class _ArrivingBytes(io.RawIOBase):
    """A streamed body whose reads return what has arrived so far.

    urllib3's `readinto` waits until the whole buffer (a megabyte, in the readers) is filled, so rows
    would reach the parser in megabyte steps, and a connection dropped mid-step would lose them all:
    on a link that drops more often than that, a resuming reader would make no progress at all.
    """

    def __init__(self, body: t.Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self._body.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def response_stream(response: requests.Response) -> t.BinaryIO:
    """The body of a `stream=True` response as a file-like object, with transfer encodings undone.

    Reads return the bytes that have arrived (not a full buffer), so records flow as they come.
    """
    response.raw.decode_content = True
    # urllib3 closes the raw stream as soon as it has read to the end, and a buffered reader above it
    # then fails its next read with "read of closed file" instead of seeing EOF.
    response.raw.auto_close = False
    return t.cast("t.BinaryIO", io.BufferedReader(_ArrivingBytes(response.raw), _BUFFER_SIZE))


def _skip_bom(reader: io.BufferedReader) -> io.BufferedReader:
    """Consume a UTF-8 byte-order mark at the start (Windows tools write one; JSON parsers refuse it)."""
    with _located(lambda: 1):
        if reader.peek(3)[:3] == codecs.BOM_UTF8:
            reader.read(3)
    return reader


@contextlib.contextmanager
def _located(where: t.Callable[[], int], unit: str = "line") -> Iterator[None]:
    """Give an error of the decompressor underneath (which knows no lines) the line the body broke at."""
    try:
        yield
    except MalformedInputError as exc:
        if exc.line is not None:
            raise
        raise type(exc)(exc.source, exc.detail, line=where(), unit=unit) from None


def sniff_format(reader: io.BufferedReader) -> str:
    """Guess `json` (an array or object), `jsonl` or `csv` from the first bytes, without consuming them.

    An object whose first line is not whole in what has arrived (a record longer than the buffer) is
    JSON Lines: a one-line JSON document reads the same way, and a document spread over several lines
    shows a line end within its first bytes.
    """
    with _located(lambda: 1):
        head = reader.peek(_BUFFER_SIZE).lstrip(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        first_line, newline, _ = head.partition(b"\n")
        if not newline:
            return "jsonl"
        try:
            _JSON_DECODER.decode(first_line.strip())
        except JSON_DECODE_ERRORS:
            return "json"  # an object spread over several lines: one JSON document
        return "jsonl"
    return "csv"


def read_jsonl_records(raw: t.BinaryIO | t.IO[bytes], source: str) -> Iterator[Numbered]:
    """Yield `(line_number, record)` for each JSON object line; blank lines are skipped."""
    reader = _skip_bom(open_decompressed(raw, source))
    decode = _JSON_DECODER.decode
    line_number = 0
    with _located(lambda: line_number + 1):
        for line_number, line in enumerate(reader, start=1):
            if not line.strip():
                continue
            try:
                record = decode(line)
            except JSON_DECODE_ERRORS as exc:
                what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
                detail = f"the line is {what}" if line.endswith(b"\n") else (
                    "the last line is cut off (the file looks truncated)"
                )
                error = TruncatedInputError if not line.endswith(b"\n") else MalformedInputError
                raise error(source, f"{detail}: {exc}", line=line_number) from None
            if not isinstance(record, dict):
                raise MalformedInputError(
                    source, f"expected a JSON object, got {type(record).__name__}", line=line_number
                )
            yield line_number, record


@dataclass(frozen=True)
class CSVOptions:
    """How to read a CSV input: the delimiter (None: detect `,` or `|`), and its header or column names."""

    delimiter: str | None = None
    has_header: bool = True
    columns: Sequence[str] | None = None


#: CSV with a header row, delimiter detected.
DEFAULT_CSV = CSVOptions()


@dataclass
class CSVTable:
    """A CSV input opened up to its first data row: the column names, then `(row_number, fields)` pairs."""

    columns: list[str]
    rows: Iterator[tuple[int, list[str]]]


def detect_delimiter(reader: io.BufferedReader, candidates: str = ",|") -> str:
    """The candidate that splits the first line most often outside double quotes (`,` on a tie)."""
    with _located(lambda: 1):
        head = reader.peek(65536)[:65536].lstrip(codecs.BOM_UTF8)
    line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    counts = dict.fromkeys(candidates, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(candidates, key=lambda c: (counts[c], c == ","))


def open_csv_table(
    raw: t.BinaryIO | t.IO[bytes],
    source: str,
    *,
    options: CSVOptions = DEFAULT_CSV,
    encoding: str = "utf-8-sig",
) -> CSVTable:
    """Open a CSV input: read its header (unless `options` says it has none) and return the rows to come.

    Column names come from the header row, or from `options.columns` when the file has none (or to
    rename a header). Quoted fields may contain the delimiter and newlines. A row with a different
    number of fields than the header is an error naming its physical line, not a silently shifted record.
    """
    reader = open_decompressed(raw, source)
    delimiter = options.delimiter or detect_delimiter(reader)
    text = io.TextIOWrapper(reader, encoding=encoding, newline="")
    lines = csv.reader(text, delimiter=delimiter, strict=True)
    names: list[str] | None = list(options.columns) if options.columns else None
    with _csv_errors(source, lines, encoding):
        if options.has_header:
            header = next(lines, None)
            if header is None:
                return CSVTable([], iter(()))
            names = names or [name.strip() for name in header]
    if not names:
        raise MalformedInputError(source, "the file has no header row and no column names were given (csv_columns)")
    return CSVTable(names, _csv_rows(lines, len(names), source, delimiter, encoding))


def _csv_rows(
    lines: t.Any, width: int, source: str, delimiter: str, encoding: str
) -> Iterator[tuple[int, list[str]]]:
    row_number = 0
    with _csv_errors(source, lines, encoding):
        for row in lines:
            if not row:
                continue
            row_number += 1
            if len(row) != width:
                raise MalformedInputError(
                    source,
                    f"expected {width} fields separated by {delimiter!r}, found {len(row)}"
                    " (wrong delimiter, or a truncated or malformed row)",
                    line=lines.line_num,
                )
            yield row_number, row


@contextlib.contextmanager
def _csv_errors(source: str, lines: t.Any, encoding: str) -> Iterator[None]:
    """The csv module's and the decoder's errors as ours, naming the source and the physical line."""
    try:
        with _located(lambda: lines.line_num + 1):
            yield
    except csv.Error as exc:
        raise TruncatedInputError(source, f"malformed CSV ({exc})", line=lines.line_num) from None
    except UnicodeDecodeError as exc:
        raise MalformedInputError(source, f"not {encoding} text ({exc.reason})", line=lines.line_num) from None


def read_csv_records(
    raw: t.BinaryIO | t.IO[bytes],
    source: str,
    *,
    delimiter: str = ",",
    has_header: bool = True,
    columns: Sequence[str] | None = None,
    encoding: str = "utf-8-sig",
) -> Iterator[Numbered]:
    """Yield `(row_number, {column: text})` for each data row of a CSV input (see `open_csv_table`)."""
    table = open_csv_table(
        raw, source, options=CSVOptions(delimiter=delimiter, has_header=has_header, columns=columns),
        encoding=encoding,
    )
    names = table.columns
    for number, row in table.rows:
        yield number, dict(zip(names, row, strict=True))


def read_json_array_records(
    raw: t.BinaryIO | t.IO[bytes],
    source: str,
    *,
    path: str = "",
) -> Iterator[Numbered]:
    """Yield `(element_number, record)` for each object of a JSON array, parsed incrementally.

    `path` names a nested array by its keys, dot-separated (`rows` for `{"rows": [...]}`); empty means
    the top-level value is the array.
    """
    prefix = f"{path}.item" if path else "item"
    reader = _skip_bom(open_decompressed(raw, source))
    element = 0
    try:
        with _located(lambda: element + 1, unit="element"):
            for element, record in enumerate(ijson.items(reader, prefix, use_float=True), start=1):
                if not isinstance(record, dict):
                    raise MalformedInputError(
                        source, f"expected a JSON object, got {type(record).__name__}", line=element, unit="element"
                    )
                yield element, record
    except ijson.IncompleteJSONError as exc:
        message = str(exc)
        error = TruncatedInputError if "incomplete" in message.lower() or "premature" in message.lower() else (
            MalformedInputError
        )
        raise error(
            source, f"invalid JSON after element {element} ({message.strip()})", line=element + 1, unit="element"
        ) from None
    except UnicodeDecodeError as exc:  # ijson's C backend decodes strings as it meets them
        raise MalformedInputError(
            source, f"not UTF-8 text after element {element} ({exc.reason})", line=element + 1, unit="element"
        ) from None


def read_json_records(raw: t.BinaryIO | t.IO[bytes], source: str, *, path: str = "") -> Iterator[Numbered]:
    """Yield records from JSON Lines or a JSON array, whichever the input holds (detected, not configured)."""
    reader = open_decompressed(raw, source)
    if sniff_format(reader) == "jsonl":
        return read_jsonl_records(reader, source)
    return read_json_array_records(reader, source, path=path)


def read_any_records(
    raw: t.BinaryIO | t.IO[bytes],
    source: str,
    *,
    csv_options: CSVOptions = DEFAULT_CSV,
) -> Iterator[Numbered]:
    """Yield records from an export file whatever it holds: JSON Lines, a JSON array or CSV (`csv_options`).

    Vendors write whichever format the export's own settings say, and name files without telling
    (spec sitecore-cdp.md §4, cordial.md §8.7): the content decides, gzip included.
    """
    reader = open_decompressed(raw, source)
    shape = sniff_format(reader)
    if shape == "jsonl":
        return read_jsonl_records(reader, source)
    if shape == "json":
        return read_json_array_records(reader, source)
    table = open_csv_table(reader, source, options=csv_options)
    return ((number, dict(zip(table.columns, row, strict=True))) for number, row in table.rows)
