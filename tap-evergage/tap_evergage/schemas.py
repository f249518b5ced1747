"""The schemas of the Evergage streams (spec evergage.md §2.3, §2.5), and discovery's custom attributes."""

from __future__ import annotations

import copy
import typing as t

from marketing_tapkit.schemas import open_schema
from singer_sdk import typing as th

DateTime = th.DateTimeType
OpenObject = th.ObjectType(additional_properties=True)

PROFILE_PROPERTIES: list[th.Property] = [
    th.Property("dataset", th.StringType, required=True, description="Dataset name as configured."),
    th.Property("name", th.StringType, required=True, description="The user id (Evergage calls it name)."),
    th.Property("engagementScore", th.NumberType),
    th.Property("engagementPercentChange", th.NumberType),
    th.Property("firstActivity", DateTime),
    th.Property("lastActivity", DateTime),
    th.Property("totalActions", th.IntegerType),
]
USER_PROPERTIES: list[th.Property] = [
    *PROFILE_PROPERTIES,
    th.Property("accountName", th.StringType, description="The user's account id (B2B)."),
    th.Property("displayName", th.StringType),
    th.Property("emailAddress", th.StringType),
    th.Property("attributes", OpenObject, description="Custom profile attributes, by name."),
    th.Property("segments", th.ArrayType(th.AnyType())),
    th.Property("location", OpenObject, description="Only with include_geo."),
]

USERS_SCHEMA = open_schema(*USER_PROPERTIES)
SEGMENT_MEMBERS_SCHEMA = open_schema(th.PropertiesList(
    *USER_PROPERTIES,
    th.Property("segment", th.StringType, required=True, description="Segment name or id as configured."),
    th.Property("segmentJoined", DateTime, description="When the user joined the segment."),
    th.Property("segmentInputValues", OpenObject),
))
ACCOUNTS_SCHEMA = open_schema(*PROFILE_PROPERTIES, th.Property("accountStatus", th.StringType))
AUDIT_EVENTS_SCHEMA = open_schema(th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("timestamp", DateTime, required=True),
    th.Property("user", th.StringType),
    th.Property("accountId", th.StringType),
    th.Property("action", th.StringType),
    th.Property("objectType", th.StringType),
    th.Property("objectId", th.StringType),
    th.Property("current", OpenObject),
))


def with_attribute_names(schema: dict[str, t.Any], names: t.Iterable[str]) -> dict[str, t.Any]:
    """`schema` with the custom attributes seen in a sample declared inside `attributes`.

    Declared keys become typed columns when a target flattens records (a flattened open object with no
    declared properties would otherwise vanish); keys not seen in the sample are still kept, because
    `attributes` stays open.
    """
    schema = copy.deepcopy(schema)
    attributes = schema["properties"]["attributes"]
    attributes.setdefault("properties", {}).update(
        {name: {"type": ["string", "null"]} for name in sorted(names)}
    )
    return schema
