"""Hypothesis strategies: records drawn from a stream's JSON schema, and text that breaks parsers."""

from __future__ import annotations

import functools
import typing as t

from hypothesis import strategies as st

from tests.profiles import PROFILES
from tests.support import discover, start_emulator

#: Pieces that break naive parsers: delimiters, quotes, line ends of every kind, a byte-order mark, a
#: NUL, and a field longer than the csv module's default limit (128 KiB) and than the readers' peeks.
HAZARDS = (
    "", ",", "|", '"', '""', '","', "\n", "\r\n", "\r", "\ufeff", "\x00", "\t", " leading", "trailing ",
    "é", "日本語", "😀", "\u2028", "[1,2]", "{}", "null", "x" * 70_000, "y" * 140_000,
)

_CHARACTERS = st.characters(exclude_categories=("Cs",))  # no lone surrogates: they have no UTF-8 form
text = st.one_of(
    st.text(_CHARACTERS, max_size=40),
    st.sampled_from(HAZARDS),
    st.lists(st.one_of(st.sampled_from(HAZARDS[:20]), st.text(_CHARACTERS, max_size=8)), max_size=6).map("".join),
)
# From -(2**63) + 1: ijson's C backend (yajl) reports "integer overflow" for -(2**63) itself, a typed
# error that test_kit_readers.py keeps as a regression test.
integers = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
numbers = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), integers, numbers, text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)


def _types(schema: dict[str, t.Any]) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        return []
    return [declared] if isinstance(declared, str) else list(declared)


def values_for(schema: dict[str, t.Any], depth: int = 0) -> st.SearchStrategy[t.Any]:
    """Values valid for `schema` (the subset of JSON Schema the taps declare)."""
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return st.one_of(*(values_for(s, depth) for s in schema[combinator]))
    kinds = _types(schema)
    if not kinds:
        return json_values
    options: list[st.SearchStrategy[t.Any]] = []
    for kind in kinds:
        if kind == "null":
            options.append(st.none())
        elif kind == "string":
            options.append(text)
        elif kind == "integer":
            options.append(integers)
        elif kind == "number":
            options.append(st.one_of(numbers, integers))
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "array":
            items = schema.get("items") or {}
            options.append(st.lists(values_for(items, depth + 1) if depth < 3 else json_values, max_size=3))
        elif kind == "object":
            options.append(objects_for(schema, depth + 1) if depth < 3 else st.dictionaries(text, scalars, max_size=2))
    return st.one_of(*options)


def objects_for(schema: dict[str, t.Any], depth: int = 0) -> st.SearchStrategy[dict[str, t.Any]]:
    """Objects with any subset of `schema`'s properties (and, where it allows them, a few others)."""
    properties = schema.get("properties") or {}
    optional = {name: values_for(sub, depth) for name, sub in properties.items()}
    fixed = st.fixed_dictionaries({}, optional=optional)
    if schema.get("additionalProperties") is False or properties:
        return fixed
    return st.dictionaries(text, json_values, max_size=4)


def records_for(schema: dict[str, t.Any]) -> st.SearchStrategy[list[dict[str, t.Any]]]:
    return st.lists(objects_for(schema), min_size=1, max_size=8)


@functools.cache
def stream_schemas() -> dict[str, dict[str, t.Any]]:
    """`{"<vendor>/<stream>": schema}` for every stream of every tap, as each tap discovers it (once)."""
    schemas: dict[str, dict[str, t.Any]] = {}
    for vendor, profile in sorted(PROFILES.items()):
        server = start_emulator(vendor, **profile.emulator_settings)
        try:
            catalog = discover(profile.tap, profile.config(server.base_url))
        finally:
            server.stop()
        for entry in catalog["streams"]:
            schemas[f"{vendor}/{entry['tap_stream_id']}"] = entry["schema"]
    return schemas


@st.composite
def stream_records(draw: st.DrawFn, *, flat: bool = False) -> list[dict[str, t.Any]]:
    """Records of one stream, drawn from its discovered schema (`flat`: only streams with properties)."""
    schemas = stream_schemas()
    names = sorted(n for n, s in schemas.items() if s.get("properties") or not flat)
    return draw(records_for(schemas[draw(st.sampled_from(names), label="stream")]))
