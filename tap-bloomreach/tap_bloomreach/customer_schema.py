"""The `customers` stream's dynamic schema and its records: column names, types, and the primary key.

Bloomreach has no schema endpoint for customers (spec §13), so the schema is discovered from the export
itself: its header (`fields` or `header`) names the columns, and a bounded sample of rows gives each a
JSON type. Rules, in README order:
- Field names are the export's own names (spec §5.1: keep the raw header names). A name already taken
  (a hard id and a property both called `email` is common) gets a suffix: `__<type>` (`email__property`)
  when the body says the column's type, else `__<n>` for its n-th occurrence. `customer_key` is reserved.
- Types from the sample: only booleans -> boolean; only integers -> integer; integers and floats ->
  number; any list -> array (soft ids; items are strings when every item is); objects -> object;
  anything else, mixes, and columns that were always null -> string. CSV cells are text, so a CSV
  export gives strings (and arrays for JSON-array cells).
- Records are conformed to the declared types: lossless conversions are made (an integral float to an
  integer, a scalar to a one-element array, a number or list to its JSON text in a string column); a
  value that cannot be converted is emitted as null and counted in a warning at the end of the sync.
- `customer_key` (the primary key) is the `customer_id_key` id (default `registered`); a soft id (a
  list) contributes its smallest value. A customer without it gets `sha256:<hex>` of its ids (id name ->
  value, lists sorted, nulls dropped, as canonical JSON), which is deterministic across runs. When the
  body does not say which columns are ids (a bare table_json or CSV header with `customer_attributes`
  unset), the hash covers the columns whose values are lists (soft ids always come as lists), so that a
  property added to the project later does not change the key; only a row with no list at all is
  hashed whole.
"""

from __future__ import annotations

import hashlib
import math
import typing as t
from collections import Counter

import msgspec
from marketing_tapkit.schemas import json_type, value_as_text

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tap_bloomreach.export_table import ExportColumn

CUSTOMER_KEY = "customer_key"
_ENCODER = msgspec.json.Encoder(order="sorted")

Converter = t.Callable[[t.Any], t.Any]


def field_names(columns: Sequence[ExportColumn]) -> list[str]:
    """The record field name of each export column, unique and stable (see the module docstring)."""
    used = {CUSTOMER_KEY}
    occurrences: Counter[str] = Counter()
    names = []
    for column in columns:
        occurrences[column.name] += 1
        name = column.name
        if name in used:
            name = f"{column.name}__{column.kind}" if column.kind else f"{column.name}__{occurrences[column.name]}"
            number = occurrences[column.name]
            while name in used:
                number += 1
                name = f"{column.name}__{number}"
        used.add(name)
        names.append(name)
    return names


class ColumnProfile:
    """What kinds of values one column held in the sample."""

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.item_kinds: set[str] = set()

    def add(self, value: t.Any) -> None:
        if value is None:
            return
        kind = json_type(value)
        self.kinds.add(kind)
        if kind == "array":
            self.item_kinds.update(json_type(item) for item in value if item is not None)

    def json_type(self) -> dict[str, t.Any]:
        """The JSON schema type the sample supports (always nullable)."""
        kinds = self.kinds
        if "array" in kinds and kinds <= {"array", "string", "integer", "number", "boolean"}:
            items = {"type": "string"} if self.item_kinds <= {"string"} and kinds <= {"array", "string"} else {}
            return {"type": ["array", "null"], "items": items}
        if kinds == {"object"}:
            return {"type": ["object", "null"], "additionalProperties": True}
        if kinds == {"boolean"}:
            return {"type": ["boolean", "null"]}
        if kinds == {"integer"}:
            return {"type": ["integer", "null"]}
        if kinds and kinds <= {"integer", "number"}:
            return {"type": ["number", "null"]}
        return {"type": ["string", "null"]}


def discover_schema(
    columns: Sequence[ExportColumn], sample: t.Iterable[list[t.Any]], id_key: str
) -> dict[str, t.Any]:
    """The stream schema for an export with `columns`, typed from the `sample` rows."""
    profiles = [ColumnProfile() for _ in columns]
    for row in sample:
        for profile, value in zip(profiles, row, strict=False):
            profile.add(value)
    properties: dict[str, t.Any] = {
        CUSTOMER_KEY: {
            "type": ["string"],
            "description": f"Primary key: the customer's `{id_key}` id, or `sha256:` of its ids when it has none.",
        },
    }
    for name, column, profile in zip(field_names(columns), columns, profiles, strict=True):
        what = f"Customer {column.kind}" if column.kind else "Export column"
        properties[name] = {**profile.json_type(), "description": f"{what} `{column.name}`."}
    return {"type": "object", "properties": properties, "required": [CUSTOMER_KEY]}


def fallback_schema(id_key: str) -> dict[str, t.Any]:
    """A schema for when the export cannot be sampled: the key and the id it comes from."""
    return discover_schema([], [], id_key)


# Records --------------------------------------------------------------------------------------------


class CustomerRecordBuilder:
    """Turns export rows into records of the declared schema, and keys them."""

    def __init__(
        self, columns: Sequence[ExportColumn], declared: dict[str, t.Any], id_key: str
    ) -> None:
        names = field_names(columns)
        self.fields = [
            (position, name, passthrough_type(declared[name]), converter(declared[name]))
            for position, name in enumerate(names)
            if name in declared and name != CUSTOMER_KEY
        ]
        self.undeclared = [name for name in names if name not in declared]
        self.mismatches: Counter[str] = Counter()
        self._mismatch_types: dict[str, str] = {}
        key_columns = [i for i, c in enumerate(columns) if c.name == id_key and c.kind in {"id", None}]
        self.key_position = key_columns[0] if key_columns else None
        id_positions = [i for i, c in enumerate(columns) if c.kind == "id"]
        self.ids_known = bool(id_positions)
        # Without id types in the body, the whole row identifies the customer (module docstring).
        self.hashed = [(columns[i].name if self.ids_known else names[i], i)
                       for i in (id_positions or range(len(columns)))]

    def build(self, row: list[t.Any]) -> dict[str, t.Any]:
        record: dict[str, t.Any] = {CUSTOMER_KEY: self.key(row)}
        for position, name, passthrough, convert in self.fields:
            value = row[position]
            if value is None or type(value) is passthrough:  # the usual case, once per value: keep it cheap
                record[name] = value
                continue
            converted = convert(value)
            if converted is _MISMATCH:
                self.mismatches[name] += 1
                self._mismatch_types.setdefault(name, type(value).__name__)
                converted = None
            record[name] = converted
        return record

    def key(self, row: list[t.Any]) -> str:
        if self.key_position is not None:
            value = row[self.key_position]
            if type(value) is str and value:  # the usual case
                return value
            if isinstance(value, list):
                value = min((str(v) for v in value if v not in (None, "")), default=None)
            if value not in (None, ""):
                return str(value)
        hashed = self.hashed
        if not self.ids_known:
            soft_ids = [(name, position) for name, position in hashed if isinstance(row[position], list)]
            hashed = soft_ids or hashed
        identity = {}
        for name, position in hashed:
            value = row[position]
            if isinstance(value, list):
                value = sorted(str(v) for v in value if v is not None)
            if value not in (None, "", []):
                identity[name] = value
        return "sha256:" + hashlib.sha256(_ENCODER.encode(identity)).hexdigest()

    def mismatch_report(self) -> list[str]:
        """One line per column that had values of another type than its declared one."""
        return [f"{name}: {count} value(s) of type {self._mismatch_types[name]}"
                for name, count in self.mismatches.most_common()]


class _Mismatch:
    """Marker for a value that cannot be converted to its column's type."""


_MISMATCH = _Mismatch()


def passthrough_type(schema: t.Any) -> type:
    """The Python type whose values already fit `schema` unchanged (NoneType when none is that simple)."""
    types = schema.get("type") if isinstance(schema, dict) else None
    names = [types] if isinstance(types, str) else list(types or [])
    declared = next((name for name in names if name != "null"), None)
    if declared == "array" and ((schema.get("items") or {}).get("type") in ("string", ["string"])):
        return type(None)  # list items may need converting to text
    return _PASSTHROUGH.get(declared or "", type(None))


_PASSTHROUGH: dict[str, type] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict,
}


def converter(schema: t.Any) -> Converter:
    """The conversion of a non-null value to the first non-null type of `schema` (identity if none)."""
    types = schema.get("type") if isinstance(schema, dict) else None
    names = [types] if isinstance(types, str) else list(types or [])
    declared = next((name for name in names if name != "null"), None)
    factory = _CONVERTERS.get(declared or "")
    if factory is None:
        return _identity
    if declared == "array":
        items = schema.get("items") or {}
        return factory(items.get("type") in ("string", ["string"], ["string", "null"]))
    return factory(None)


def _identity(value: t.Any) -> t.Any:
    return value


def _to_string(_: t.Any) -> Converter:
    return value_as_text


def _to_integer(_: t.Any) -> Converter:
    def convert(value: t.Any) -> t.Any:
        if type(value) is int:
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return _MISMATCH
        return _MISMATCH

    return convert


def _to_number(_: t.Any) -> Converter:
    def convert(value: t.Any) -> t.Any:
        if type(value) in (int, float):
            return value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return _MISMATCH
            return number if math.isfinite(number) else _MISMATCH
        return _MISMATCH

    return convert


def _to_boolean(_: t.Any) -> Converter:
    def convert(value: t.Any) -> t.Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        return _MISMATCH

    return convert


def _to_array(strings: t.Any) -> Converter:
    def convert(value: t.Any) -> t.Any:
        if type(value) is list:
            if not strings:
                return value
            for item in value:  # a loop, not all(...) over a generator: this runs for every soft id
                if type(item) is not str:
                    break
            else:
                return value  # the usual soft id: a list of strings, kept as it is
        items = value if isinstance(value, list) else [value]
        return [value_as_text(v) for v in items] if strings else items

    return convert


def _to_object(_: t.Any) -> Converter:
    def convert(value: t.Any) -> t.Any:
        return value if isinstance(value, dict) else _MISMATCH

    return convert


_CONVERTERS: dict[str, Callable[[t.Any], Converter]] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "array": _to_array,
    "object": _to_object,
}
