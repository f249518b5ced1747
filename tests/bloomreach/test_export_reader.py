"""The export reader on bodies the emulator does not produce: odd key orders, look-alike keys, gzip, cuts."""

from __future__ import annotations

import gzip
import io

import pytest
from marketing_tapkit.readers import MalformedInputError, TruncatedInputError
from tap_bloomreach.export_reader import read_export
from tap_bloomreach.export_table import ExportColumn, ExportRefusedError


def _read(body: bytes) -> tuple[str, list[ExportColumn], list[list]]:
    table = read_export(io.BytesIO(body), "test body")
    return table.format, table.columns, list(table.rows)


def test_members_named_like_the_rows_inside_strings_or_nested_values_are_not_taken_for_them():
    body = (b'{"success":true,"note":"a \\"data\\": [ here","fields":[{"type":"property","property":"data"},'
            b'{"type":"id","id":"rows"}],"data":[["x",1]]}')
    assert _read(body) == ("native_json", [ExportColumn("property", "data"), ExportColumn("id", "rows")], [["x", 1]])


def test_rows_before_the_header_are_spooled_and_nested_lists_survive():
    body = b'{"rows":[["x",[1,{"a":[2]}]],["y",2.5]],"header":["registered","a"],"success":true}'
    assert _read(body) == ("table_json", [ExportColumn(None, "registered"), ExportColumn(None, "a")],
                           [["x", [1, {"a": [2]}]], ["y", 2.5]])


def test_gzip_body_and_byte_order_mark_are_undone():
    body = b'\xef\xbb\xbf{"header":["property.city"],"rows":[["Brno"]]}'
    assert _read(gzip.compress(body)) == ("table_json", [ExportColumn("property", "city")], [["Brno"]])


def test_empty_export_has_columns_and_no_rows():
    assert _read(b'{"success":true,"header":["registered"],"rows":[]}')[2] == []
    assert _read(b"registered,cookie\r\n")[2] == []


@pytest.mark.parametrize(("body", "error", "text"), [
    (b'{"success":true,"header":["a"],"rows":[["x"],["y"', TruncatedInputError, "row 2: the body ended after row 1"),
    (b'{"rows":[["x"],["y"]],"header":["a"]', TruncatedInputError, "row 3: the body ended after row 2"),
    (b'{"success":true,"fie', TruncatedInputError, "before any row"),
    (b'{"success":true,"header":["a","b"],"rows":[["x",1],["y"]]}', MalformedInputError,
     "row 2: expected a row of 2 values, found 1"),
    (b'{"success":true,"rows":[["x"]]}', MalformedInputError, "neither `fields` nor `header`"),
    (b"a,b\r\nx,1\r\ny", MalformedInputError, "line 3: expected 2 fields separated by ',', found 1"),
    (b'a,b\r\nx,"[""c1', TruncatedInputError, "malformed CSV"),
    (b"", TruncatedInputError, "the export body is empty"),
    (b"[1, 2]", MalformedInputError, "got an array"),
], ids=["json-cut", "spooled-cut", "prelude-cut", "short-row", "no-descriptor", "csv-short-row", "csv-cut",
        "empty", "array"])
def test_broken_bodies_raise_errors_that_say_where_and_what(body, error, text):
    with pytest.raises(error) as caught:
        _read(body)
    assert text in str(caught.value)
    assert str(caught.value).startswith("test body")


@pytest.mark.parametrize(("body", "permission"), [
    (b"No Permission", True),
    (b'  no permission\n', True),
    (b'{"success":false,"errors":{"_global":["Invalid project id"]}}', False),
    (b'{"success":false,"error":"No permission to export customers"}', True),
])
def test_refusals_in_the_body_are_recognised(body, permission):
    with pytest.raises(ExportRefusedError) as caught:
        _read(body)
    assert caught.value.no_permission is permission
