"""tap-cordial: contacts, events, orders, products, lists, jobs and audience trends from Cordial's API v2."""

from __future__ import annotations

import typing as t
from functools import cached_property

from marketing_tapkit.concurrency import QuotaRateGate
from marketing_tapkit.config import kit_setting_properties
from marketing_tapkit.tap import KitTap
from singer_sdk import typing as th
from typing_extensions import override

from tap_cordial import streams
from tap_cordial.client import DEFAULT_API_URL, base_url_from_config
from tap_cordial.destination import require_export_destination
from tap_cordial.exports import DEFAULT_JOB_TIMEOUT, DEFAULT_POLL_INTERVAL, export_name_prefix
from tap_cordial.schemas import contacts_schema
from tap_cordial.streams.audience_trends import requested_window
from tap_cordial.streams.contacts import reads_exports

if t.TYPE_CHECKING:
    from singer_sdk import Stream

SYNC_MODES = ("api", "export")

EXPORT_DESTINATION = th.ObjectType(
    th.Property("type", th.StringType, required=True,
                description="s3, gcs, sftp or ftp (any case). Cordial's `aws` (files kept for download in "
                            "Cordial's UI) is refused: its API cannot download them."),
    th.Property("path", th.StringType,
                description="Folder Cordial writes into (a key prefix in a bucket; on SFTP or FTP the folder "
                            "must exist)."),
    th.Property("bucket", th.StringType, description="S3 (or GCS) bucket; Cordial's name: aws_bucket."),
    th.Property("aws_bucket", th.StringType, description="S3 bucket, in Cordial's name (same as bucket)."),
    th.Property("region", th.StringType, description="S3 bucket region, e.g. us-east-1; Cordial's name: aws_region."),
    th.Property("aws_region", th.StringType, description="S3 bucket region, in Cordial's name (same as region)."),
    th.Property("aws_access_key_id", th.StringType,
                description="S3 access key, given to Cordial to write and used by the tap to read. Leave "
                            "empty when Cordial's IAM role writes and the tap uses its own AWS credentials."),
    th.Property("aws_secret_access_key", th.StringType, secret=True, description="S3 secret key."),
    th.Property("endpoint_url", th.StringType,
                description="S3-compatible or GCS endpoint the tap reads from (not sent to Cordial); empty for "
                            "AWS and Google Cloud."),
    th.Property("gcs_bucket", th.StringType, description="GCS bucket (shared with Cordial's service account)."),
    th.Property("gcs_token", th.StringType, secret=True,
                description="GCS credentials for the tap: a service-account JSON file path (gcsfs `token`)."),
    th.Property("gcs_project", th.StringType, description="GCS project of the bucket."),
    th.Property("server", th.StringType, description="SFTP or FTP host name or address (as Cordial reaches it)."),
    th.Property("port", th.IntegerType, description="SFTP or FTP port (default 22 for SFTP, 21 for FTP)."),
    th.Property("username", th.StringType, description="SFTP or FTP user."),
    th.Property("password", th.StringType, secret=True, description="SFTP or FTP password."),
    th.Property("savedKey", th.StringType,
                description="Name of an SFTP key saved in Cordial, instead of a password (Cordial's name; "
                            "saved_key is the same)."),
    th.Property("saved_key", th.StringType, description="Same as savedKey."),
    th.Property("private_key_file", th.StringType,
                description="With savedKey: the private key file the tap reads the SFTP server with."),
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
        th.Property("audience_trends_start", th.DateType,
                    description="First day of the audience-trends window to export (Cordial's "
                                "selected_timeframe_start), for a backfill or a re-export; unset: the day after "
                                "the bookmark."),
        th.Property("audience_trends_end", th.DateType,
                    description="Last day of the audience-trends window to export (Cordial's "
                                "selected_timeframe_end); unset: yesterday."),
        th.Property("export_destination", EXPORT_DESTINATION,
                    description="Where Cordial writes export files and the tap reads them (S3, GCS, SFTP or FTP). "
                                "Cordial's own field names (aws_bucket, aws_region, savedKey) are accepted."),
        th.Property("export_name_prefix", th.StringType, default="tap-cordial",
                    description="Start of the name of every export job the tap creates (letters, numbers and "
                                "dashes), followed by the stream, the time and a random suffix."),
        th.Property("job_poll_interval", th.NumberType(minimum=0), default=DEFAULT_POLL_INTERVAL,
                    description="Seconds between polls of an export job."),
        th.Property("job_timeout", th.NumberType(minimum=0), default=DEFAULT_JOB_TIMEOUT,
                    description="Seconds to wait for an export job before failing the stream."),
        *kit_setting_properties(),
    ).to_dict()

    @override
    @cached_property
    def rate_gate(self) -> QuotaRateGate:
        """Cordial announces the quota left on every answer (`X-Rate-Limit-Remaining`, spec §5): pages in
        parallel spend it, and wait for `X-Rate-Limit-Reset` once it is gone, instead of being refused."""
        return QuotaRateGate(self.http.max_concurrent_requests)

    @override
    def discover_streams(self) -> list[Stream]:
        base_url_from_config(self.config)  # fail on a bad host setting before any request
        if reads_exports(self.config):
            require_export_destination(self.config, "`sync_mode: export`")
        if self.config.get("audiences"):
            require_export_destination(self.config, "`audience_trends` (setting `audiences`)")
        export_name_prefix(self.config)
        requested_window(self.config)
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
