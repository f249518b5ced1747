"""The shape of a customers export, whatever its format: typed columns and an iterator of rows."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterator

_QUALIFIED = re.compile(r"\A(id|ids|property|properties)[.:](.+)\Z")


class ExportRefusedError(Exception):
    """The API answered the export with a refusal instead of data (HTTP 200 with an error body)."""

    def __init__(self, message: str, *, no_permission: bool = False) -> None:
        super().__init__(message)
        self.no_permission = no_permission


@dataclass(frozen=True)
class ExportColumn:
    """One column of the export: its attribute type if the body says (`id`, `property`, ...), and name."""

    kind: str | None
    name: str


@dataclass
class ExportTable:
    """The export's columns and an iterator over its rows (lists, positionally matching `columns`)."""

    format: str
    columns: list[ExportColumn]
    rows: Iterator[list[t.Any]]


def column_from_descriptor(descriptor: t.Any) -> ExportColumn:
    """A native_json `fields` entry (`{"type": "property", "property": "email"}`) or a header entry."""
    if isinstance(descriptor, str):
        match = _QUALIFIED.match(descriptor)
        if match:
            kind = "property" if match.group(1).startswith("propert") else "id"
            return ExportColumn(kind, match.group(2))
        return ExportColumn(None, descriptor)
    if isinstance(descriptor, dict):
        declared = descriptor.get("type")
        field_kind = str(declared) if declared is not None else None
        for key in (field_kind, "name", "id", "property"):
            if key and isinstance(descriptor.get(key), str):
                return ExportColumn(field_kind, descriptor[key])
    raise ValueError(f"cannot read a column name from {descriptor!r}")
