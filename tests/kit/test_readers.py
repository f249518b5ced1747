"""The kit's streaming readers: formats, gzip, and errors that name the file and the line."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pytest
import requests
from marketing_tapkit.readers import (
    MalformedInputError,
    TruncatedInputError,
    read_csv_records,
    read_json_array_records,
    read_json_records,
    read_jsonl_records,
    response_stream,
)

ROWS = [{"id": i, "email": f"u{i}@example.com", "score": i / 3} for i in range(1, 6)]


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_jsonl_records_are_numbered_by_line_plain_and_gzip(compress: bool) -> None:
    data = jsonl(ROWS)
    data = gzip.compress(data) if compress else data
    assert list(read_jsonl_records(io.BytesIO(data), "export.jsonl")) == list(enumerate(ROWS, start=1))


def test_jsonl_skips_blank_lines_but_keeps_physical_line_numbers() -> None:
    data = b'{"a": 1}\n\n{"a": 2}\n'
    assert list(read_jsonl_records(io.BytesIO(data), "f")) == [(1, {"a": 1}), (3, {"a": 2})]


def test_malformed_jsonl_line_names_file_and_line() -> None:
    data = jsonl(ROWS[:2]) + b'{"id": 3, "email": \n' + jsonl(ROWS[3:])
    records = read_jsonl_records(io.BytesIO(data), "part-0001.json.gz")
    assert next(records)[0] == 1
    assert next(records)[0] == 2
    with pytest.raises(MalformedInputError, match=r"part-0001\.json\.gz, line 3: the line is not valid JSON"):
        next(records)


def test_truncated_gzip_is_reported_as_truncated_after_the_complete_records() -> None:
    varied = [{"id": i, "token": hashlib.sha256(str(i).encode()).hexdigest()} for i in range(20_000)]
    data = gzip.compress(jsonl(varied))
    cut = io.BytesIO(data[: len(data) // 2])
    seen = []
    with pytest.raises(TruncatedInputError, match=r"export\.json\.gz.*(ended early|cut off)"):
        for number, _record in read_jsonl_records(cut, "export.json.gz"):
            seen.append(number)
    assert seen, "the records before the cut are delivered"
    assert seen == list(range(1, len(seen) + 1))


def test_jsonl_line_that_is_not_an_object_is_an_error() -> None:
    with pytest.raises(MalformedInputError, match=r"line 1: expected a JSON object, got list"):
        list(read_jsonl_records(io.BytesIO(b"[1, 2]\n"), "f"))


@pytest.mark.parametrize("delimiter", [",", "|"])
def test_csv_with_header_and_either_delimiter(delimiter: str) -> None:
    text = f"id{delimiter}name{delimiter}note\r\n1{delimiter}Ann{delimiter}x\r\n2{delimiter}Bob{delimiter}y\r\n"
    rows = list(read_csv_records(io.BytesIO(text.encode()), "f.csv", delimiter=delimiter))
    assert rows == [(1, {"id": "1", "name": "Ann", "note": "x"}), (2, {"id": "2", "name": "Bob", "note": "y"})]


def test_csv_quoted_fields_may_hold_delimiters_quotes_and_newlines() -> None:
    text = 'id,comment\n1,"hello, ""world""\nsecond line"\n2,plain\n'
    rows = list(read_csv_records(io.BytesIO(gzip.compress(text.encode())), "f.csv.gz"))
    assert rows == [(1, {"id": "1", "comment": 'hello, "world"\nsecond line'}), (2, {"id": "2", "comment": "plain"})]


def test_csv_without_header_takes_the_given_columns() -> None:
    rows = list(read_csv_records(io.BytesIO(b"a|1\nb|2\n"), "f", delimiter="|", has_header=False, columns=["k", "v"]))
    assert rows == [(1, {"k": "a", "v": "1"}), (2, {"k": "b", "v": "2"})]


def test_csv_without_header_or_columns_names_the_setting() -> None:
    with pytest.raises(MalformedInputError, match="csv_columns"):
        list(read_csv_records(io.BytesIO(b"a,1\n"), "f", has_header=False))


def test_csv_row_with_wrong_field_count_names_line_and_delimiter() -> None:
    with pytest.raises(MalformedInputError, match=r"f\.csv, line 3: expected 2 fields separated by ','"):
        list(read_csv_records(io.BytesIO(b"a,b\n1,2\n3,4,5\n"), "f.csv"))


def test_csv_unterminated_quote_at_end_is_truncation() -> None:
    with pytest.raises(TruncatedInputError, match=r"f\.csv"):
        list(read_csv_records(io.BytesIO(b'a,b\n1,"unfinished\n'), "f.csv"))


def test_csv_utf8_bom_does_not_leak_into_the_first_column_name() -> None:
    rows = list(read_csv_records(io.BytesIO("\ufeffid,name\n1,Zoë\n".encode()), "f"))
    assert rows == [(1, {"id": "1", "name": "Zoë"})]


def test_top_level_json_array_is_parsed_incrementally() -> None:
    data = json.dumps(ROWS).encode()
    assert list(read_json_array_records(io.BytesIO(data), "users.json")) == list(enumerate(ROWS, start=1))


def test_nested_json_array_at_a_path() -> None:
    data = json.dumps({"name": "x", "header": ["a"], "rows": ROWS}).encode()
    assert [r for _, r in read_json_array_records(io.BytesIO(gzip.compress(data)), "f", path="rows")] == ROWS


def test_unclosed_json_array_is_truncation_after_last_complete_element() -> None:
    data = json.dumps(ROWS).encode()[:-30]
    seen = []
    with pytest.raises(TruncatedInputError, match=r"customers\.json, element \d+"):
        for number, _ in read_json_array_records(io.BytesIO(data), "customers.json"):
            seen.append(number)
    assert seen == list(range(1, len(seen) + 1))
    assert 0 < len(seen) < len(ROWS)


def test_malformed_json_array_element_is_reported() -> None:
    with pytest.raises(MalformedInputError, match="f, element 2"):
        list(read_json_array_records(io.BytesIO(b'[{"a": 1}, {"a": nope}]'), "f"))


def test_json_records_detects_lines_or_array() -> None:
    assert [r for _, r in read_json_records(io.BytesIO(jsonl(ROWS)), "f")] == ROWS
    assert [r for _, r in read_json_records(io.BytesIO(gzip.compress(json.dumps(ROWS).encode())), "f")] == ROWS


def test_readers_pull_input_in_bounded_chunks() -> None:
    """A reader never asks its source for everything at once (flat memory on any size)."""

    class CountingStream(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)
            self.largest_read = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            chunk = self.inner.read(len(buffer))
            self.largest_read = max(self.largest_read, len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = gzip.compress(jsonl(ROWS * 50_000))
    source = CountingStream(data)
    count = sum(1 for _ in read_jsonl_records(io.BufferedReader(source, 65536), "big"))
    assert count == len(ROWS) * 50_000
    assert source.largest_read <= 1 << 20


def test_a_streamed_http_body_smaller_than_the_buffer_reads_to_a_clean_end(emulator) -> None:
    server = emulator("evergage", scale=5, duplicates=[])
    response = requests.get(
        f"{server.base_url}/api/dataset/engage/users.json",
        auth=("sandbox-api-key-id", "sandbox-api-secret-key-0f6c2b"), stream=True, timeout=10,
    )
    records = list(read_json_array_records(response_stream(response), "users.json"))
    assert [n for n, _ in records] == [1, 2, 3, 4, 5]
