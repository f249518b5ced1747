"""The `.csv` variant of the users and accounts exports (setting `export_format`, spec evergage.md §2.4).

A CSV page holds the same records as the JSON page, with every value as text: one column per field,
then one per custom attribute. The kit's CSV reader reads the page (header, widths, errors naming the
request and the line); the types come back from the stream's schema, so both formats give the same
records. The column set is undocumented (§2.4), so any column the schema does not declare is kept: as a
custom attribute where the stream has `attributes`, else as a text field.
"""

from __future__ import annotations

import io
import typing as t

import msgspec
from marketing_tapkit.readers import MalformedInputError, open_csv_table
from marketing_tapkit.requesting import request_line

if t.TYPE_CHECKING:
    from collections.abc import Callable, Collection

    import requests

Cell = t.Callable[[str], t.Any]
_PAGE = "_tap_evergage_csv_page"


def csv_page(response: requests.Response) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a CSV page, read once (the paginator and the parser share them)."""
    cached = response.__dict__.get(_PAGE)
    if cached is None:
        table = open_csv_table(io.BytesIO(response.content), f"the response to {request_line(response)}")
        cached = (table.columns, [row for _, row in table.rows])
        response.__dict__[_PAGE] = cached
    return t.cast("tuple[list[str], list[list[str]]]", cached)


def _number(text: str) -> int | float:
    """A number as JSON would have decoded it: an integer unless written with a fraction or exponent."""
    return float(text) if any(c in text for c in ".eE") or text in {"NaN", "Infinity", "-Infinity"} else int(text)


def _boolean(text: str) -> bool:
    return text.lower() == "true"


def _json(text: str) -> t.Any:
    return msgspec.json.decode(text)


def _cell_reader(declared: dict[str, t.Any], *, epoch_ms: bool) -> Cell | None:
    """How to turn a cell back into the JSON value of a field of type `declared` (None: keep the text)."""
    types = declared.get("type") or []
    types = [types] if isinstance(types, str) else types
    if epoch_ms or "integer" in types or "number" in types:
        return _number  # epoch-millisecond fields arrive as numbers, and become date-times as in JSON
    if "boolean" in types:
        return _boolean
    if "object" in types or "array" in types or not types:
        return _json
    return None


class CSVRecords:
    """Turns CSV pages of one stream into the records its JSON pages hold."""

    def __init__(self, schema: dict[str, t.Any], epoch_ms_fields: Collection[str]) -> None:
        self.properties: dict[str, t.Any] = schema.get("properties") or {}
        self.epoch_ms_fields = set(epoch_ms_fields)
        self.has_attributes = "attributes" in self.properties
        self._plans: dict[tuple[str, ...], Callable[[list[str]], dict[str, t.Any]]] = {}

    def records(self, response: requests.Response) -> list[dict[str, t.Any]]:
        """The records of a CSV page (an empty cell is null: CSV cannot tell it from an empty text)."""
        columns, rows = csv_page(response)
        to_record = self._plan(tuple(columns))
        try:
            return [to_record(row) for row in rows]
        except (ValueError, msgspec.DecodeError) as exc:
            raise MalformedInputError(f"the response to {request_line(response)}",
                                      f"a cell does not have its column's type ({exc})") from None

    def _plan(self, columns: tuple[str, ...]) -> Callable[[list[str]], dict[str, t.Any]]:
        plan = self._plans.get(columns)
        if plan is None:
            plan = self._plans[columns] = self._make_plan(columns)
        return plan

    def _make_plan(self, columns: tuple[str, ...]) -> Callable[[list[str]], dict[str, t.Any]]:
        fields: list[tuple[int, str, Cell | None]] = []
        attributes: list[tuple[int, str]] = []
        for index, column in enumerate(columns):
            declared = self.properties.get(column)
            if declared is None and self.has_attributes:
                attributes.append((index, column))
            else:
                reader = _cell_reader(declared or {"type": "string"}, epoch_ms=column in self.epoch_ms_fields)
                fields.append((index, column, reader))
        has_attributes = self.has_attributes

        def to_record(row: list[str]) -> dict[str, t.Any]:
            record: dict[str, t.Any] = {}
            for index, column, reader in fields:
                cell = row[index]
                record[column] = None if cell == "" else (reader(cell) if reader else cell)
            if has_attributes:
                record["attributes"] = {name: row[index] or None for index, name in attributes}
            return record

        return to_record
