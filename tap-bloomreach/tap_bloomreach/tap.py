"""tap-bloomreach: customers, catalogs, consent categories and segmentations of Bloomreach Engagement."""

from __future__ import annotations

import typing as t

from marketing_tapkit.config import config_error, kit_setting_properties
from marketing_tapkit.tap import KitTap
from singer_sdk import typing as th
from typing_extensions import override

from tap_bloomreach import streams
from tap_bloomreach.client import DEFAULT_API_URL, BloomreachStream, project_url
from tap_bloomreach.evaluation import DEFAULT_TIMEZONE, execution_epoch, time_zone
from tap_bloomreach.streams.customers import DEFAULT_EXPORT_TIMEOUT, DEFAULT_SAMPLE_ROWS, EXPORT_FORMATS

ATTRIBUTE_NAME_KEYS = {"id": "id", "property": "property"}


def validate_settings(config: t.Mapping[str, t.Any]) -> None:
    """Refuse settings the API would refuse later, naming the setting (before any request is sent)."""
    project_url(config)
    if not str(config.get("project_token") or "").strip():
        raise config_error("Setting `project_token` is empty: copy it from Project settings > Access management > API.")
    time_zone(config)
    execution_epoch(config)
    if config.get("segmentation_id") and config.get("segment_index") is None:
        raise config_error(
            "Setting `segmentation_id` needs `segment_index` too (0-based; -1 = customers in no segment)."
        )
    if config.get("segment_index") is not None and not config.get("segmentation_id"):
        raise config_error("Setting `segment_index` needs `segmentation_id` (the segmentation it indexes).")
    for position, item in enumerate(config.get("customer_attributes") or []):
        kind = item.get("type") if isinstance(item, dict) else None
        name_key = ATTRIBUTE_NAME_KEYS.get(str(kind), "id")
        if not kind or not isinstance(item.get(name_key), str):
            raise config_error(
                f"Setting `customer_attributes` item {position + 1} must look like "
                '{"type": "id", "id": "registered"} or {"type": "property", "property": "email"}, '
                f"got {item!r}."
            )


class TapBloomreach(KitTap):
    """Singer tap for Bloomreach Engagement (formerly Exponea)."""

    name = "tap-bloomreach"
    # The customers schema is discovered from the project's own export, so discovery needs the config.
    dynamic_catalog = True
    # `--test` reads consent categories (valid credentials, no permission needed, spec §7.1) instead of a
    # record of every stream, which would start a customer export.
    connection_test_streams = (streams.ConsentCategoriesStream,)

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url", th.StringType, default=DEFAULT_API_URL,
            description="Base URL of your instance's API (Project settings > Access management > API); "
                        "http:// only for localhost.",
        ),
        th.Property("project_token", th.StringType, required=True, description="The project token."),
        th.Property("api_key_id", th.StringType, required=True, secret=True,
                    description="API Key ID of a private API group (HTTP Basic username)."),
        th.Property("api_secret", th.StringType, required=True, secret=True,
                    description="API Secret of that key (HTTP Basic password)."),
        th.Property(
            "customer_attributes",
            th.ArrayType(th.ObjectType(
                th.Property("type", th.StringType, required=True),
                th.Property("id", th.StringType),
                th.Property("property", th.StringType),
                additional_properties=True,
            )),
            description='Customer attributes to export, e.g. [{"type": "id", "id": "registered"}, '
                        '{"type": "property", "property": "email"}]; absent means all ids and properties. '
                        "The `customer_id_key` id is added when missing.",
        ),
        th.Property("segmentation_id", th.StringType,
                    description="Export only the customers of one segment of this segmentation."),
        th.Property("segment_index", th.IntegerType(minimum=-1),
                    description="With segmentation_id: the 0-based segment; -1 = customers in no segment."),
        th.Property("timezone", th.StringType, default=DEFAULT_TIMEZONE,
                    description="IANA time zone in which the export and analyses are evaluated "
                                "(sent as `timezone`); an `execution_time` without an offset is read in it."),
        th.Property(
            "execution_time", th.CustomType({"type": ["string", "integer"]}),
            description="The moment at which the customers export and the segmentation results are evaluated "
                        "(sent as `execution_time`, in epoch seconds; the API's default is now): epoch seconds, "
                        "or an ISO 8601 date-time such as 2024-06-30T23:59:59+02:00 (without an offset: in "
                        "`timezone`).",
        ),
        th.Property("customer_id_key", th.StringType, default="registered",
                    description="The hard id whose value is the customers' primary key."),
        th.Property(
            "export_format", th.StringType(allowed_values=list(EXPORT_FORMATS)), default="table_json",
            description="Format the customers export is requested in; every format is accepted in answer.",
        ),
        th.Property(
            "schema_sample_rows", th.IntegerType(minimum=1), default=DEFAULT_SAMPLE_ROWS,
            description="Rows of the export read at discovery to type the customer columns.",
        ),
        th.Property("catalog_ids", th.ArrayType(th.StringType),
                    description="Catalogs to export (default: all)."),
        th.Property("analysis_ids", th.ArrayType(th.StringType),
                    description="Segmentation ids (from the segmentation's URL in the app) to export."),
        th.Property(
            "export_timeout", th.IntegerType(minimum=1), default=DEFAULT_EXPORT_TIMEOUT,
            description="Read timeout in seconds of the customers export request (a full export takes long).",
        ),
        *kit_setting_properties(),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("validate_config", True):
            validate_settings(self.config)  # before any request, and before discovery samples the export

    @override
    def discover_streams(self) -> list[BloomreachStream]:
        return [
            streams.CustomersStream(self),
            streams.CatalogsStream(self),
            streams.CatalogItemsStream(self),
            streams.ConsentCategoriesStream(self),
            streams.SegmentationResultsStream(self),
        ]

