"""tap-cordial: contacts, events, orders, products, lists, jobs and audience trends from Cordial's API v2."""

from __future__ import annotations

import typing as t

from marketing_tapkit.config import http_setting_properties
from marketing_tapkit.tap import KitTap
from singer_sdk import typing as th
from typing_extensions import override

from tap_cordial import streams
from tap_cordial.client import DEFAULT_API_URL, base_url_from_config
from tap_cordial.destination import DESTINATION_TYPES, require_export_destination
from tap_cordial.exports import DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL
from tap_cordial.schemas import contacts_schema
from tap_cordial.streams.contacts import reads_exports

if t.TYPE_CHECKING:
    from singer_sdk import Stream

SYNC_MODES = ("api", "export")

EXPORT_DESTINATION = th.ObjectType(
    th.Property("type", th.StringType(allowed_values=list(DESTINATION_TYPES)), required=True,
                description="s3, gcs or sftp."),
    th.Property("path", th.StringType, description="Folder Cordial writes into (a key prefix in a bucket)."),
    th.Property("bucket", th.StringType, description="S3 (or GCS) bucket."),
    th.Property("region", th.StringType, description="S3 bucket region, e.g. us-east-1."),
    th.Property("aws_access_key_id", th.StringType,
                description="S3 access key, given to Cordial to write and used by the tap to read. Leave "
                            "empty when Cordial's IAM role writes and the tap uses its own AWS credentials."),
    th.Property("aws_secret_access_key", th.StringType, secret=True, description="S3 secret key."),
    th.Property("endpoint_url", th.StringType,
                description="S3-compatible endpoint the tap reads from (not sent to Cordial); empty for AWS."),
    th.Property("gcs_bucket", th.StringType, description="GCS bucket (shared with Cordial's service account)."),
    th.Property("gcs_token", th.StringType, secret=True,
                description="GCS credentials for the tap: a service-account JSON file path (gcsfs `token`)."),
    th.Property("gcs_project", th.StringType, description="GCS project of the bucket."),
    th.Property("server", th.StringType, description="SFTP host name or address (as Cordial reaches it)."),
    th.Property("port", th.IntegerType, description="SFTP port (default 22)."),
    th.Property("username", th.StringType, description="SFTP user."),
    th.Property("password", th.StringType, secret=True, description="SFTP password."),
    th.Property("saved_key", th.StringType,
                description="Name of an SFTP key saved in Cordial, instead of a password (Cordial's savedKey)."),
    th.Property("private_key_file", th.StringType,
                description="With saved_key: the private key file the tap reads the SFTP server with."),
)


class TapCordial(KitTap):
    """Singer tap for Cordial (cordial.com)."""

    name = "tap-cordial"

    config_jsonschema = th.PropertiesList(
        th.Property("api_key", th.StringType, required=True, secret=True,
                    description="Cordial API key (sent as the Basic-auth user name). The key's IP allow-list "
                                "must include this machine's egress address."),
        th.Property("api_url", th.StringType, default=DEFAULT_API_URL,
                    description="API host: https://api.cordial.io (US-East) or https://api.usw2.cordial.io "
                                "(US-West). http:// only for localhost."),
        th.Property("start_date", th.DateTimeType,
                    description="Oldest event, order, job or audience-trend day to read on the first run."),
        th.Property("page_size", th.IntegerType(minimum=1, maximum=10_000), default=1000,
                    description="Records per page of the list endpoints (per_page)."),
        th.Property("sync_mode", th.StringType(allowed_values=list(SYNC_MODES)), default="api",
                    description="How contacts and contact_activities are read: `api` pages the list endpoints; "
                                "`export` runs contact export jobs into `export_destination` (for accounts "
                                "with millions of contacts). Same records either way."),
        th.Property("audiences", th.ArrayType(th.StringType), default=[],
                    description="Saved audience names (with Audience Trend analytics enabled) for "
                                "`audience_trends`."),
        th.Property("export_destination", EXPORT_DESTINATION,
                    description="Where Cordial writes export files and the tap reads them (S3, GCS or SFTP)."),
        th.Property("job_poll_interval", th.NumberType(minimum=0), default=DEFAULT_POLL_INTERVAL,
                    description="Seconds between polls of an export job."),
        th.Property("job_timeout", th.NumberType(minimum=0), default=DEFAULT_JOB_TIMEOUT,
                    description="Seconds to wait for an export job before failing the stream."),
        *http_setting_properties(),
    ).to_dict()

    @override
    def discover_streams(self) -> list[Stream]:
        base_url_from_config(self.config)  # fail on a bad host setting before any request
        if reads_exports(self.config):
            require_export_destination(self.config, "`sync_mode: export`")
        if self.config.get("audiences"):
            require_export_destination(self.config, "`audience_trends` (setting `audiences`)")
        # The contacts schema holds one property per account contact attribute (spec §10).
        attributes = streams.ContactAttributesStream(self).get_records(None)
        return [
            streams.ContactsStream(self, schema=contacts_schema(attributes, self.logger)),
            streams.ContactActivitiesStream(self),
            streams.OrdersStream(self),
            streams.ProductsStream(self),
            streams.AccountListsStream(self),
            streams.ContactAttributesStream(self),
            streams.SupplementsStream(self),
            streams.SupplementRecordsStream(self),
            streams.JobsStream(self),
            streams.AudienceTrendsStream(self),
        ]
