"""Contacts and their activities, read by paging the API or (`sync_mode: export`) through export jobs.

The two paths give the same records: export rows are mapped back to the API's shape here (list flags to
`lists`, stored event names `a`/`ats` to `action`/`time`, CSV text to the attribute's type).
"""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, datetime

from typing_extensions import override

from tap_cordial import schemas
from tap_cordial.client import PagedStream, TimeSeekStream, filter_time
from tap_cordial.exports import ExportJob
from tap_cordial.streams.account import AccountListsStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

CONTACTS_PAGING_WARNING_AT = 10_000
EXPORT_MODE = "`sync_mode: export`"


def reads_exports(config: t.Mapping[str, t.Any]) -> bool:
    """Whether contacts and their activities are read through export jobs (`sync_mode: export`)."""
    return config.get("sync_mode") == "export"


class ContactsStream(PagedStream):
    """Every contact (full table: the API has no change filter, spec §10)."""

    name = "contacts"
    path = "/contacts"
    primary_keys = ("_id",)
    replication_key = None
    narrow_scan_settings = ("sync_mode",)  # an export job reads every contact without paging

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if reads_exports(self.config):
            yield from self.export_records()
            return
        for count, record in enumerate(super().get_records(context), start=1):
            if count == CONTACTS_PAGING_WARNING_AT:
                self.logger.warning(
                    "contacts: %d contacts read by paging; for large accounts `sync_mode: export` is the "
                    "documented path (one export job instead of thousands of pages).", count)
            yield record

    def export_records(self) -> Iterator[dict[str, t.Any]]:
        """Every contact, from a `POST /v2/contactexports` job asking for every attribute and list."""
        system = {p.name for p in schemas.CONTACT_SYSTEM_PROPERTIES}
        attribute_keys = [k for k in self.schema["properties"] if k not in system]
        lists = AccountListsStream(self.kit_tap).get_records(None)
        list_names = [str(item["name"]) for item in lists if item.get("name")]
        body = {
            "exportType": "json", "showHeader": True, "compress": True,
            "fields": [*attribute_keys, "createdAt", "lastModified", "listJoinDate"],
            "lists": list_names,
        }
        types = schemas.attribute_types(self.schema)
        for row in ExportJob.for_stream(self, EXPORT_MODE).run("contactexports", body):
            yield contact_from_export_row(row, types, list_names)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        for field in schemas.DROPPED_CONTACT_FIELDS:
            row.pop(field, None)
        return super().post_process(row, context)


def contact_from_export_row(row: dict[str, t.Any], types: dict[str, str], list_names: list[str]) -> dict[str, t.Any]:
    """A contact export row in the API's shape.

    JSON rows hold nested channels and typed values; CSV rows hold dotted columns (`channels.email.address`)
    and text. Requested lists come as one 1/0 column each (spec §8.3) and become `lists`.
    """
    contact: dict[str, t.Any] = {}
    for key, value in row.items():
        if "." in key:  # the test first: JSON rows have no dotted keys, and this runs for every column
            head, _, rest = key.partition(".")
            if head == "channels" or types.get(head) == "object":
                node = contact.setdefault(head, {})
                *parents, leaf = rest.split(".")
                for parent in parents:
                    node = node.setdefault(parent, {})
                if value not in ("", None):
                    node[leaf] = value
                continue
        contact[key] = value
    if "_id" not in contact and contact.get("cID"):
        contact["_id"] = contact.pop("cID")
    if "email" in contact and "email" not in types:
        contact.setdefault("channels", {}).setdefault("email", {}).setdefault("address", contact.pop("email"))
    flags = {name: contact.pop(name) for name in list_names if name in contact}
    if "lists" not in contact:
        contact["lists"] = [name for name in list_names if str(flags.get(name, "0")).strip() in {"1", "true", "True"}]
    for key, kind in types.items():
        if key in contact and isinstance(contact[key], str):
            contact[key] = _typed_text(contact[key], kind)
    return contact


def _typed_text(text: str, kind: str) -> t.Any:
    """A CSV cell as the attribute's JSON type."""
    if text == "":
        return None
    if kind in {"number", "integer"}:
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if kind in {"array", "object"} and text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    if kind == "array":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


class ContactActivitiesStream(TimeSeekStream):
    """Contact events (sends, opens, clicks, custom events), incremental on `time`.

    The list has no `page` parameter (spec §4): each query asks for `time[gte]` the last time seen.
    Cordial keeps events 18 months (spec §8.4, S10).
    """

    name = "contact_activities"
    path = "/contactactivities"
    primary_keys = ("_id",)
    replication_key = "time"
    schema = schemas.CONTACT_ACTIVITIES

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # The export's order is not documented: there, the bookmark moves only when the stream completes.
        self.is_sorted = not reads_exports(self.config)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not reads_exports(self.config):
            yield from super().get_records(context)
            return
        start = self.get_starting_replication_key_value(context) or "2000-01-01T00:00:00+00:00"
        body = {
            "exportType": "json", "showHeader": True, "compress": True,
            "selected_timeframe_start": filter_time(start),
            "selected_timeframe_end": filter_time(datetime.now(tz=UTC)),
        }
        for row in ExportJob.for_stream(self, EXPORT_MODE).run("contactactivityexport", body):
            yield activity_from_export_row(row)


def activity_from_export_row(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """An event export row in the API's shape: stored names `a` (action) and `ats` (time) renamed."""
    record = dict(row)
    for stored, api_name in (("a", "action"), ("ats", "time")):
        if stored in record and api_name not in record:
            record[api_name] = record.pop(stored)
    if isinstance(record.get("properties"), str) and record["properties"][:1] == "{":
        record["properties"] = json.loads(record["properties"])
    if isinstance(record.get("first"), str) and record["first"].isdigit():
        record["first"] = int(record["first"])
    return record
