"""The schemas of the streams whose fields the spec lists (§6, §7, §8); `customer_schema` types customers.

They stay open (`additionalProperties`): the spec leaves the responses' extra keys UNVERIFIED.
"""

from __future__ import annotations

from marketing_tapkit.schemas import open_schema
from singer_sdk import typing as th

OpenObject = th.ObjectType(additional_properties=True)

CONSENT_CATEGORY = open_schema(
    th.Property("id", th.StringType, required=True, description="Category id, e.g. newsletter."),
    th.Property("legitimate_interest", th.BooleanType),
    th.Property("sources", OpenObject, description="Which sources may set this consent."),
    th.Property("translations", OpenObject, description="Name and description by language code."),
)

CATALOG = open_schema(
    th.Property("id", th.StringType, required=True),
    th.Property("name", th.StringType),
)

CATALOG_ITEM = open_schema(
    th.Property("catalog_id", th.StringType, required=True),
    th.Property("item_id", th.StringType, required=True),
    th.Property("properties", OpenObject, description="The item's columns, as the catalog defines them."),
)

SEGMENT = open_schema(
    th.Property("analysis_id", th.StringType, required=True, description="The segmentation's id."),
    th.Property("analysis_name", th.StringType),
    th.Property("segment", th.StringType, required=True, description="The segment's name."),
    th.Property(
        "segment_index", th.IntegerType,
        description="0-based row position: the `segment_index` of the customers export's segment filter.",
    ),
    th.Property("customers", th.IntegerType, description="Customers in the segment (the `#` column)."),
    th.Property("metrics", OpenObject, description="The other columns, by their header label."),
)
