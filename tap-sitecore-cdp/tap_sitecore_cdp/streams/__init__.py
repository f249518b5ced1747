"""Sitecore CDP streams: each declares its path, keys, schema and how a page becomes records."""

from tap_sitecore_cdp.streams.audience_exports import AudienceExportJobsStream, AudienceExportRecordsStream
from tap_sitecore_cdp.streams.guests import (
    GuestDataExtensionsStream,
    GuestListStream,
    GuestScanSpool,
    GuestsStream,
    OrdersStream,
)

__all__ = [
    "AudienceExportJobsStream",
    "AudienceExportRecordsStream",
    "GuestDataExtensionsStream",
    "GuestListStream",
    "GuestScanSpool",
    "GuestsStream",
    "OrdersStream",
]
