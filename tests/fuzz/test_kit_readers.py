"""The kit's readers on bodies the sandbox's own writers produce, from records drawn from every stream's
schema: what is written is read back equal, and a body cut or damaged anywhere is never read as a
shorter, silent result.

Plain JSON Lines and CSV have no end marker: a body cut exactly at a row boundary is a valid, shorter
file that no reader can tell from a whole one (the transport catches those: a short Content-Length or a
chunked body without its last chunk fails the read in `ResumableRows`). The properties below say so
where they make that exception; gzip (length and CRC trailer) and JSON arrays (the closing `]`) are
self-delimiting, so there any cut or damaged byte must give every row or a typed error.
"""

from __future__ import annotations

import io
import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marketing_tapkit import readers

from tests.fuzz.bodies import SOURCE, csv_columns, expected, write
from tests.fuzz.strategies import stream_records

ReaderFn = t.Callable[[io.BytesIO], t.Iterator[tuple[int, dict[str, t.Any]]]]
READERS: dict[str, dict[str, ReaderFn]] = {
    "jsonl": {
        "readers.read_jsonl_records": lambda raw: readers.read_jsonl_records(raw, SOURCE),
        "readers.read_json_records": lambda raw: readers.read_json_records(raw, SOURCE),
        "readers.read_any_records": lambda raw: readers.read_any_records(raw, SOURCE),
    },
    "json": {
        "readers.read_json_array_records": lambda raw: readers.read_json_array_records(raw, SOURCE),
        "readers.read_json_records": lambda raw: readers.read_json_records(raw, SOURCE),
        "readers.read_any_records": lambda raw: readers.read_any_records(raw, SOURCE),
    },
}


def csv_readers(delimiter: str) -> dict[str, ReaderFn]:
    def table_rows(raw: io.BytesIO) -> t.Iterator[tuple[int, dict[str, t.Any]]]:
        table = readers.open_csv_table(raw, SOURCE, options=readers.CSVOptions(delimiter=delimiter))
        return ((n, dict(zip(table.columns, row, strict=True))) for n, row in table.rows)

    return {
        "readers.read_csv_records": lambda raw: readers.read_csv_records(raw, SOURCE, delimiter=delimiter),
        "readers.open_csv_table": table_rows,
        "readers.read_any_records (delimiter detected)": lambda raw: readers.read_any_records(raw, SOURCE),
    }


def read_all(reader: ReaderFn, body: bytes) -> list[tuple[int, dict[str, t.Any]]]:
    return list(reader(io.BytesIO(body)))


def read_until_error(
    reader: ReaderFn, body: bytes
) -> tuple[list[tuple[int, dict]], readers.MalformedInputError | None]:
    rows: list[tuple[int, dict]] = []
    try:
        for row in reader(io.BytesIO(body)):
            rows.append(row)
    except readers.MalformedInputError as error:
        return rows, error
    return rows, None


def assert_names_source_and_line(error: readers.MalformedInputError) -> None:
    assert error.source == SOURCE and SOURCE in str(error), error
    assert error.line is not None, f"the error does not say where the body broke: {error}"


# ----------------------------------------------------------------------------------- written = read


@given(data=st.data(), fmt=st.sampled_from(["jsonl", "json"]), crlf=st.booleans(), bom=st.booleans(),
       gzipped=st.booleans())
def test_json_bodies_read_back_equal(data, fmt: str, crlf: bool, bom: bool, gzipped: bool) -> None:
    records = data.draw(stream_records())
    body = write(fmt, records, crlf=crlf, bom=bom, gzipped=gzipped)
    for name, reader in READERS[fmt].items():
        assert read_all(reader, body) == expected(fmt, records), name


@given(data=st.data(), delimiter=st.sampled_from([",", "|"]), quote_all=st.booleans(), bom=st.booleans(),
       gzipped=st.booleans())
def test_csv_bodies_read_back_equal(data, delimiter: str, quote_all: bool, bom: bool,
                                    gzipped: bool) -> None:
    records = data.draw(stream_records(flat=True))
    if not csv_columns(records):
        records[0]["id"] = 1
    body = write("csv", records, delimiter=delimiter, quote_all=quote_all, bom=bom, gzipped=gzipped)
    for name, reader in csv_readers(delimiter).items():
        assert read_all(reader, body) == expected("csv", records), name


# ----------------------------------------------------------------------------------- cut or damaged


def assert_every_row_or_typed_error(reader: ReaderFn, damaged: bytes, whole: list[tuple[int, dict]],
                                    *, boundary: bool = False) -> None:
    """Every row, or a typed error naming source and line; `boundary`: a silent prefix is unavoidable."""
    rows, error = read_until_error(reader, damaged)
    if error is not None:
        assert_names_source_and_line(error)
        return
    if boundary:
        assert rows == whole[: len(rows)], "rows before a cut at a row boundary are the rows written"
        return
    assert rows == whole, f"{len(rows)} of {len(whole)} rows (or changed rows) and no error"


@given(data=st.data(), fmt=st.sampled_from(["jsonl", "json", "csv"]))
def test_gzip_body_cut_at_any_byte_gives_every_row_or_a_typed_error(data, fmt: str) -> None:
    records = data.draw(stream_records(flat=fmt == "csv"))
    records[0].setdefault("id", 1)
    body = write(fmt, records, gzipped=True)
    # From byte 2: a body cut before its gzip magic is whole is a plain file (empty, or one byte).
    cut = data.draw(st.integers(min_value=2, max_value=len(body) - 1), label="cut")
    readers = READERS.get(fmt) or csv_readers(",")
    for reader in readers.values():
        assert_every_row_or_typed_error(reader, body[:cut], expected(fmt, records))


@given(data=st.data(), fmt=st.sampled_from(["jsonl", "json", "csv"]))
def test_gzip_body_damaged_at_any_byte_gives_every_row_or_a_typed_error(data, fmt: str) -> None:
    records = data.draw(stream_records(flat=fmt == "csv"))
    records[0].setdefault("id", 1)
    body = bytearray(write(fmt, records, gzipped=True))
    at = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="at")
    body[at] ^= data.draw(st.integers(min_value=1, max_value=255), label="xor")
    readers = READERS.get(fmt) or csv_readers(",")
    for reader in readers.values():
        assert_every_row_or_typed_error(reader, bytes(body), expected(fmt, records))


@given(data=st.data())
def test_json_array_cut_at_any_byte_is_a_truncation_error(data) -> None:
    records = data.draw(stream_records())
    body = write("json", records)
    cut = data.draw(st.integers(min_value=1, max_value=len(body) - 1), label="cut")
    for name, reader in READERS["json"].items():
        rows, error = read_until_error(reader, body[:cut])
        assert error is not None, f"{name}: a JSON array without its `]` read as {len(rows)} rows, no error"
        assert_names_source_and_line(error)


@given(data=st.data(), fmt=st.sampled_from(["jsonl", "csv"]), quote_all=st.booleans())
def test_plain_line_body_cut_inside_a_row_is_an_error(data, fmt: str, quote_all: bool) -> None:
    """A cut that leaves a partial row errs; at a row boundary, the rows before it are the rows written.

    CSV cannot tell a cut at the end of a field from a shorter value (`a,b,hel` and `"a",` are valid rows),
    so for CSV the property is that the rows read are numbered as written.
    """
    records = data.draw(stream_records(flat=fmt == "csv"))
    records[0].setdefault("id", 1)
    body = write(fmt, records, quote_all=quote_all)
    cut = data.draw(st.integers(min_value=1, max_value=len(body) - 1), label="cut")
    damaged = body[:cut]
    at_boundary = damaged.endswith(b"\n") or (fmt == "jsonl" and damaged.endswith(b"}"))
    whole = expected(fmt, records)
    for reader in (READERS.get(fmt) or csv_readers(",")).values():
        rows, error = read_until_error(reader, damaged)
        if error is not None:
            assert_names_source_and_line(error)
            continue
        if fmt == "csv":  # the last field of a row may end anywhere: the rows are those written, by number
            assert [n for n, _ in rows] == [n for n, _ in whole[: len(rows)]]
            continue
        assert rows == whole[: len(rows)], f"cut at byte {cut} of {len(body)}: rows changed without an error"
        assert rows == whole or at_boundary, f"cut at byte {cut} of {len(body)} read silently"


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_empty_body_is_no_rows_for_line_formats_and_an_error_for_a_json_array(fmt: str) -> None:
    readers = READERS.get(fmt) or csv_readers(",")
    for name, reader in readers.items():
        rows, error = read_until_error(reader, b"")
        assert rows == [], name
        if name == "readers.read_json_array_records":
            assert error is not None, "an empty body is not a JSON array"


# ------------------------------------------------- regressions: examples hypothesis found, kept plainly


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_body_with_a_byte_order_mark_reads_with_every_reader(fmt: str) -> None:
    body = write(fmt, [{"id": 1}], bom=True)
    for name, reader in READERS[fmt].items():
        assert read_all(reader, body) == [(1, {"id": 1})], name


def test_csv_field_longer_than_the_csv_modules_default_limit_is_read_whole() -> None:
    records = [{"catalog_id": "y" * 140_000, "id": "1"}]
    for reader in csv_readers(",").values():
        assert read_all(reader, write("csv", records)) == expected("csv", records)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_gzip_body_cut_after_its_magic_is_a_truncation_error_naming_the_line(fmt: str) -> None:
    body = write(fmt, [{"id": 1}], gzipped=True)[:2]
    for reader in (READERS.get(fmt) or csv_readers(",")).values():
        rows, error = read_until_error(reader, body)
        assert rows == [] and isinstance(error, readers.TruncatedInputError)
        assert_names_source_and_line(error)


def test_damaged_gzip_header_is_a_corrupt_input_error_naming_the_line() -> None:
    body = bytearray(write("jsonl", [{"id": 1}], gzipped=True))
    body[2] ^= 1  # the compression method: no longer deflate
    rows, error = read_until_error(READERS["jsonl"]["readers.read_jsonl_records"], bytes(body))
    assert rows == [] and isinstance(error, readers.CorruptInputError)
    assert error.line == 1


def test_json_array_with_bytes_that_are_not_utf8_is_a_typed_error() -> None:
    body = b'[{"id": 1}, {"name": "\xff\xfe"}]'.replace(b"\\xff\\xfe", b"\xff\xfe")
    rows, error = read_until_error(READERS["json"]["readers.read_json_array_records"], body)
    assert rows == [(1, {"id": 1})] and error is not None
    assert error.line == 2 and "UTF8" in str(error).replace("UTF-8", "UTF8")


def test_json_lines_with_bytes_that_are_not_utf8_is_a_typed_error_naming_the_line() -> None:
    """Found in a gzip body damaged at one byte: the decompressed line held a broken UTF-8 sequence."""
    body = b'{"id": 1}\n{"name": "\xe2("}\n'
    for name, reader in READERS["jsonl"].items():
        rows, error = read_until_error(reader, body)
        assert rows == [(1, {"id": 1})] and isinstance(error, readers.MalformedInputError), name
        assert error.line == 2 and "UTF-8" in str(error), name


def test_json_lines_whose_first_record_is_longer_than_the_sniffed_bytes_are_read_as_json_lines() -> None:
    records = [{"catalog_id": "x" * 70_000}, {"catalog_id": "y"}]
    for name, reader in READERS["jsonl"].items():
        assert read_all(reader, write("jsonl", records)) == expected("jsonl", records), name


def test_the_one_integer_ijson_cannot_read_is_a_typed_error_naming_the_element() -> None:
    """yajl (ijson's C backend) overflows on -(2**63), the smallest 64-bit integer (JSON Lines reads it)."""
    body = b'[{"id": 1}, {"id": -9223372036854775808}]'
    rows, error = read_until_error(READERS["json"]["readers.read_json_array_records"], body)
    assert rows == [(1, {"id": 1})] and error is not None and error.line == 2
    assert read_all(READERS["jsonl"]["readers.read_jsonl_records"], b'{"id": -9223372036854775808}\n') == [
        (1, {"id": -(2**63)})]
