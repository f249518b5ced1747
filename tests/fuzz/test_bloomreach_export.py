"""Bloomreach's customers export reader (`read_export`) on bodies in all three formats, drawn at random:
rows come back as written, rows before the descriptor included, and a cut body is never a silent prefix."""

from __future__ import annotations

import io
import typing as t

from hypothesis import given
from hypothesis import strategies as st
from marketing_tapkit.readers import MalformedInputError
from tap_bloomreach.export_reader import read_export

from sandbox.framework.bodies import csv_body, json_bytes
from tests.fuzz.strategies import json_values, scalars, text

SOURCE = "customers export"
names = st.lists(st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12),
                 min_size=1, max_size=5, unique=True)


@st.composite
def tables(draw: st.DrawFn, cells: st.SearchStrategy[t.Any]) -> tuple[list[str], list[list[t.Any]]]:
    header = draw(names)
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=6))
    return header, rows


def json_body(fmt: str, header: list[str], rows: list[list[t.Any]], rows_first: bool) -> bytes:
    descriptor = ("fields", [{"type": "property", "property": n} for n in header]) if fmt == "native_json" else (
        "header", header)
    members = [("success", True), descriptor, ("data" if fmt == "native_json" else "rows", rows)]
    if rows_first:
        members.reverse()
    return json_bytes(dict(members))


def read(body: bytes) -> tuple[list[str], list[list[t.Any]]]:
    table = read_export(io.BytesIO(body), SOURCE)
    return [c.name for c in table.columns], list(table.rows)


@given(table=tables(json_values), fmt=st.sampled_from(["native_json", "table_json"]), rows_first=st.booleans())
def test_json_exports_read_back_equal_whatever_the_key_order(table, fmt: str, rows_first: bool) -> None:
    header, rows = table
    assert read(json_body(fmt, header, rows, rows_first)) == (header, rows)


# A text cell that reads as a JSON array is taken for a soft id's values (spec §5.1, GUESSED): not drawn.
plain_text = text.filter(lambda v: not (v[:1] == "[" and v[-1:] == "]"))


@given(table=tables(st.one_of(plain_text, st.lists(text, min_size=1, max_size=3))))
def test_csv_exports_read_back_equal_soft_ids_as_lists(table) -> None:
    header, rows = table
    cells = [[json_bytes(v).decode() if isinstance(v, list) else v for v in row] for row in rows]
    want = [[v if v != "" else None for v in row] for row in rows]  # an empty cell is null
    assert read(b"".join(csv_body(cells, header))) == (header, want)


@given(data=st.data(), table=tables(scalars), fmt=st.sampled_from(["native_json", "table_json"]),
       rows_first=st.booleans())
def test_json_export_cut_at_any_byte_is_a_typed_error(data, table, fmt: str, rows_first: bool) -> None:
    header, rows = table
    body = json_body(fmt, header, rows, rows_first)
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="cut")
    got: list[list[t.Any]] = []
    error: MalformedInputError | None = None
    try:
        got.extend(read_export(io.BytesIO(body[:cut]), SOURCE).rows)
    except MalformedInputError as caught:
        error = caught
    assert error is not None, f"a body cut at byte {cut} of {len(body)} read as {len(got)} rows without an error"
    assert str(error).startswith(SOURCE)
    assert got == rows[: len(got)], "rows before the cut are the rows written"
