"""Schema helpers every tap needs."""

from __future__ import annotations

import typing as t

import msgspec
from singer_sdk import typing as th


def open_schema(*properties: th.Property | th.PropertiesList) -> dict[str, t.Any]:
    """A schema that keeps keys it does not list.

    Vendors add fields, and tenants define their own, so a record's unknown keys are kept
    (`additionalProperties`) rather than dropped; the listed ones get their declared types.
    """
    listed: list[th.Property] = []
    for item in properties:
        listed.extend(item.wrapped.values() if isinstance(item, th.PropertiesList) else [item])
    schema = th.PropertiesList(*listed).to_dict()
    schema["additionalProperties"] = True
    return schema


def json_type(value: t.Any) -> str:
    """The JSON Schema type name of a decoded JSON value (`boolean` before `integer`: bool is an int)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def value_as_text(value: t.Any) -> str | None:
    """A decoded JSON value as the text a string column holds: booleans as `true`/`false`, numbers as
    written, lists and objects as JSON; None stays None and text stays as it is."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return msgspec.json.encode(value).decode()
