"""tap-sitecore-cdp: audience export jobs and their output rows, and the guest profiles behind them."""

from __future__ import annotations

import typing as t
from functools import cached_property

from marketing_tapkit.config import config_error, kit_setting_properties, validate_base_url
from marketing_tapkit.tap import KitTap
from singer_sdk import typing as th
from typing_extensions import override

from tap_sitecore_cdp import streams
from tap_sitecore_cdp.auth import (
    DEFAULT_AUTH_URL,
    ClientCredentialsAuthenticator,
    audience_export_authenticator,
    guest_api_authenticator,
)
from tap_sitecore_cdp.client import MAX_PAGE_SIZE, REGION_ALIASES, REGIONS, SitecoreStream, base_url_from_config

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk.authenticators import BasicAuthenticator

#: `audience_export_mode`: every job's rows once (`history`), or the newest job's rows each run (`latest`).
AUDIENCE_EXPORT_MODES = ("history", "latest")
AUDIENCE_EXPORT_STREAMS = (streams.AudienceExportJobsStream, streams.AudienceExportRecordsStream)
GUEST_API_STREAMS = (streams.GuestsStream, streams.GuestDataExtensionsStream, streams.OrdersStream)


def _credential_pair(config: Mapping[str, t.Any], first: str, second: str) -> bool:
    """True when both settings are set, False when neither is; a half-set pair is a config error."""
    has_first, has_second = bool(config.get(first)), bool(config.get(second))
    if has_first != has_second:
        missing, given = (second, first) if has_first else (first, second)
        raise config_error(f"Setting `{given}` is set but `{missing}` is not: set both, or neither to skip the "
                           "streams that need them.")
    return has_first


class TapSitecoreCDP(KitTap):
    """Singer tap for Sitecore CDP (formerly Boxever)."""

    name = "tap-sitecore-cdp"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "region", th.StringType(allowed_values=[*REGIONS, *REGION_ALIASES]),
            description="Where the tenant is hosted: builds https://api-engage-{region}.sitecorecloud.io "
                        "(`jp`, the label on Sitecore's server list, is `jpe`).",
        ),
        th.Property(
            "api_url", th.StringType,
            description="Base URL of the APIs; overrides `region`. http:// only for localhost.",
        ),
        th.Property(
            "auth_url", th.StringType, default=DEFAULT_AUTH_URL,
            description="OAuth token endpoint of the Audience export API.",
        ),
        th.Property(
            "client_id", th.StringType, secret=True,
            description="Audience export API: the API key's client ID (OAuth client credentials).",
        ),
        th.Property(
            "client_secret", th.StringType, secret=True,
            description="Audience export API: the API key's client secret.",
        ),
        th.Property(
            "client_key", th.StringType, secret=True,
            description="Guest REST API: the Client key (the Basic auth user name).",
        ),
        th.Property(
            "api_token", th.StringType, secret=True,
            description="Guest REST API: the API token (the Basic auth password).",
        ),
        th.Property(
            "audience_exports", th.ArrayType(th.StringType), default=[],
            description="Friendly IDs or UUIDs of the audience exports to read.",
        ),
        th.Property(
            "audience_export_mode", th.StringType(allowed_values=list(AUDIENCE_EXPORT_MODES)), default="history",
            description="`history`: the rows of every finished job, each job synced once. `latest`: each run "
                        "syncs the most recent export job of each export (`GET .../latestExport`) and then "
                        "sends ACTIVATE_VERSION, so a target that honours it (target-postgres) replaces the "
                        "previous snapshot.",
        ),
        th.Property(
            "start_date", th.DateTimeType,
            description="Export jobs that finished, and guests and orders last changed, before this are left out "
                        "of the first run.",
        ),
        th.Property(
            "csv_delimiter", th.StringType,
            description="Field delimiter of CSV outputs (`,` or `|`); unset: detected from each file.",
        ),
        th.Property(
            "csv_has_header", th.BooleanType, default=True,
            description="Whether CSV outputs start with a header row.",
        ),
        th.Property(
            "csv_columns", th.ArrayType(th.StringType),
            description="Column names for CSV outputs without a header row (or to rename the header's).",
        ),
        th.Property(
            "guest_page_size", th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE), default=MAX_PAGE_SIZE,
            description="Guests (and orders) per page; the API allows at most 100.",
        ),
        *kit_setting_properties(),
    ).to_dict()

    @cached_property
    def audience_export_authenticator(self) -> ClientCredentialsAuthenticator:
        """One OAuth authenticator for the run: every audience-export stream shares its token."""
        return audience_export_authenticator(self.config, http=self.http, secrets=self.secrets)

    @cached_property
    def guest_api_authenticator(self) -> BasicAuthenticator:
        """Basic auth with the client key and API token (spec §2.2)."""
        return guest_api_authenticator(self.config, secrets=self.secrets)

    @cached_property
    def guest_scan_spool(self) -> streams.GuestScanSpool | None:
        """The guest list read by the first of `guests` and `guest_data_extensions`, when both are selected."""
        readers = {name: self.streams.get(name) for name in ("guests", "guest_data_extensions")}
        if all(isinstance(stream, streams.GuestListStream) and stream.selected for stream in readers.values()):
            return streams.GuestScanSpool(t.cast("dict[str, streams.GuestListStream]", readers))
        return None

    @override
    def discover_streams(self) -> list[SitecoreStream]:
        base_url_from_config(self.config)  # fail on a bad host setting before any request
        if (delimiter := self.config.get("csv_delimiter")) and len(delimiter) != 1:
            raise config_error(f"Setting `csv_delimiter` must be one character (`,` or `|`), got {delimiter!r}.")
        if (mode := self.config.get("audience_export_mode", "history")) not in AUDIENCE_EXPORT_MODES:
            raise config_error(f"Setting `audience_export_mode` must be `history` or `latest`, got {mode!r}.")
        has_oauth = _credential_pair(self.config, "client_id", "client_secret")
        has_basic = _credential_pair(self.config, "client_key", "api_token")
        if not has_oauth and not has_basic:
            raise config_error(
                "Set `client_id` and `client_secret` (Audience export API), `client_key` and `api_token` "
                "(Guest REST API), or both pairs."
            )
        offered: list[SitecoreStream] = []
        if has_oauth:
            validate_base_url(self.config.get("auth_url") or DEFAULT_AUTH_URL, "auth_url")
            if not self.config.get("audience_exports"):
                self.logger.warning("`audience_exports` is empty: the audience export streams have nothing to read.")
            offered += [stream(self) for stream in AUDIENCE_EXPORT_STREAMS]
        else:
            self.logger.info("Not offering %s: `client_id` and `client_secret` (Audience export API) are not set.",
                             ", ".join(s.name for s in AUDIENCE_EXPORT_STREAMS))
        if has_basic:
            offered += [stream(self) for stream in GUEST_API_STREAMS]
        else:
            self.logger.info("Not offering %s: `client_key` and `api_token` (Guest REST API) are not set.",
                             ", ".join(s.name for s in GUEST_API_STREAMS))
        return offered
