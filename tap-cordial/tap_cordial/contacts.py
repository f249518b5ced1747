"""Contacts and their activities, read by paging the API or (`sync_mode: export`) through export jobs.

The two paths give the same records: export rows are mapped back to the API's shape here (list flags to
`lists`, stored event names `a`/`ats` to `action`/`time`, CSV text to the attribute's type).
"""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, datetime

from singer_sdk import typing as th
from typing_extensions import override

from tap_cordial.client import filter_time
from tap_cordial.exports import ExportJobMixin
from tap_cordial.streams import DateTime, OpenObject, PagedStream, Strings, TimeSeekStream, open_schema

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

CONTACTS_PAGING_WARNING_AT = 10_000

CHANNEL = th.ObjectType(
    th.Property("address", th.StringType),
    th.Property("subscribeStatus", th.StringType, description="none, subscribed or unsubscribed."),
    th.Property("subscribedAt", DateTime),
    th.Property("unsubscribedAt", DateTime),
    additional_properties=True,
)
CONTACT_SYSTEM_PROPERTIES = [
    th.Property("_id", th.StringType, required=True, description="The contact id (cID)."),
    th.Property("channels", th.ObjectType(
        th.Property("email", CHANNEL), th.Property("sms", CHANNEL), th.Property("push", OpenObject),
        additional_properties=True,
    )),
    th.Property("createdAt", DateTime),
    th.Property("lastModified", DateTime),
    th.Property("lists", Strings, description="Names of the lists the contact is on."),
    th.Property("listJoinDate", th.ObjectType(additional_properties=DateTime),
                description="When the contact joined each enhanced list, by list name."),
]
GEO = th.ObjectType(
    *(th.Property(name, th.StringType) for name in
      ("street_address", "street_address2", "city", "state", "postal_code", "country", "tz")),
    additional_properties=True,
)
ATTRIBUTE_TYPES: dict[str, th.JSONTypeHelper[t.Any]] = {
    "string": th.StringType(),
    "number": th.NumberType(),
    "date": DateTime(),
    "geo": GEO,
    "array": Strings,
}
# Fields the API sends that the schema leaves out: `lj` is an internal copy of listJoinDate (spec §9.1).
DROPPED_CONTACT_FIELDS = ("lj",)


def contacts_schema(attributes: t.Any, logger: logging.Logger) -> dict[str, t.Any]:
    """System fields, lists and channels, plus one typed property per account contact attribute."""
    properties = list(CONTACT_SYSTEM_PROPERTIES)
    taken = {p.name for p in properties} | set(DROPPED_CONTACT_FIELDS)
    for attribute in attributes if isinstance(attributes, list) else []:
        key = attribute.get("key") if isinstance(attribute, dict) else None
        if not key or key in taken:
            if key:
                logger.warning("contacts: attribute %r has the name of a system field; it is not added.", key)
            continue
        kind = str(attribute.get("type") or "string")
        helper = ATTRIBUTE_TYPES.get(kind, th.StringType())
        properties.append(th.Property(key, helper, description=f"{attribute.get('name') or key} ({kind})"))
        taken.add(key)
    return th.PropertiesList(*properties).to_dict()


class ExportModeMixin(ExportJobMixin):
    """Streams that `sync_mode: export` reads through an export job instead of the list endpoint."""

    export_endpoint: t.ClassVar[str]

    @property
    def uses_export(self) -> bool:
        return self.config.get("sync_mode") == "export"


class ContactsStream(ExportModeMixin, PagedStream):
    """Every contact (full table: the API has no change filter, spec §10)."""

    name = "contacts"
    path = "/contacts"
    primary_keys = ("_id",)
    replication_key = None
    export_endpoint = "contactexports"

    @property
    def attribute_types(self) -> dict[str, str]:
        properties = self.schema.get("properties", {})
        types = {}
        for name, prop in properties.items():
            kinds = prop.get("type", [])
            kinds = [kinds] if isinstance(kinds, str) else kinds
            types[name] = next((k for k in kinds if k != "null"), "string")
            if prop.get("format") == "date-time":
                types[name] = "date"
        return types

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if self.uses_export:
            yield from self._export_records()
            return
        for count, record in enumerate(super().get_records(context), start=1):
            if count == CONTACTS_PAGING_WARNING_AT:
                self.logger.warning(
                    "contacts: %d contacts read by paging; for large accounts `sync_mode: export` is the "
                    "documented path (one export job instead of thousands of pages).", count)
            yield record

    def _export_records(self) -> Iterator[dict[str, t.Any]]:
        system = {p.name for p in CONTACT_SYSTEM_PROPERTIES}
        attribute_keys = [k for k in self.schema["properties"] if k not in system]
        lists = self._tap.api.request_json("GET", "/v2/accountlists", what="contacts: listing lists",
                                           not_found_is_empty=True)
        list_names = [str(item["name"]) for item in lists if isinstance(item, dict) and item.get("name")]
        body = {
            "exportType": "json", "showHeader": True, "compress": True,
            "fields": [*attribute_keys, "createdAt", "lastModified", "listJoinDate"],
            "lists": list_names,
        }
        types = self.attribute_types
        for row in self.new_export_job("`sync_mode: export`").run(self.export_endpoint, body):
            yield contact_from_export_row(row, types, list_names)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        for field in DROPPED_CONTACT_FIELDS:
            row.pop(field, None)
        return super().post_process(row, context)


def contact_from_export_row(row: dict[str, t.Any], types: dict[str, str], list_names: list[str]) -> dict[str, t.Any]:
    """A contact export row in the API's shape.

    JSON rows hold nested channels and typed values; CSV rows hold dotted columns (`channels.email.address`)
    and text. Requested lists come as one 1/0 column each (spec §8.3) and become `lists`.
    """
    contact: dict[str, t.Any] = {}
    for key, value in row.items():
        head, dot, rest = key.partition(".")
        if dot and (head == "channels" or types.get(head) == "object"):
            node = contact.setdefault(head, {})
            *parents, leaf = rest.split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            if value not in ("", None):
                node[leaf] = value
        else:
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


class ContactActivitiesStream(ExportModeMixin, TimeSeekStream):
    """Contact events (sends, opens, clicks, custom events), incremental on `time`.

    The list has no `page` parameter (spec §4): each query asks for `time[gte]` the last time seen.
    Cordial keeps events 18 months (spec §8.4, S10).
    """

    name = "contact_activities"
    path = "/contactactivities"
    primary_keys = ("_id",)
    replication_key = "time"
    export_endpoint = "contactactivityexport"
    schema = open_schema(
        th.Property("_id", th.StringType, required=True),
        th.Property("time", DateTime),
        th.Property("action", th.StringType, description="message-sent, open, click, ... or a custom event."),
        th.Property("cID", th.StringType),
        th.Property("email", th.StringType),
        th.Property("mcID", th.StringType),
        th.Property("bmID", th.StringType),
        th.Property("msID", th.StringType),
        th.Property("mdtID", th.StringType),
        th.Property("first", th.IntegerType),
        th.Property("properties", OpenObject),
    )

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # The export's order is not documented: there, the bookmark moves only when the stream completes.
        self.is_sorted = not self.uses_export

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not self.uses_export:
            yield from super().get_records(context)
            return
        start = self.get_starting_replication_key_value(context) or "2000-01-01T00:00:00+00:00"
        body = {
            "exportType": "json", "showHeader": True, "compress": True,
            "selected_timeframe_start": filter_time(start),
            "selected_timeframe_end": filter_time(datetime.now(tz=UTC)),
        }
        for row in self.new_export_job("`sync_mode: export`").run(self.export_endpoint, body):
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
