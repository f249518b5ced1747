"""The SDK's standard tap tests, against the Sitecore CDP emulator."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class
from tap_sitecore_cdp.tap import TapSitecoreCDP

from tests.sitecore_cdp.helpers import config_for
from tests.support import start_emulator

# Small files, so that every export is split and every file boundary is crossed.
_SERVER = start_emulator("sitecore-cdp", scale=20, max_rows_per_file=7)
atexit.register(_SERVER.stop)

CONFIG = config_for(
    _SERVER.base_url, audience_exports=["weekly-vip-export", "daily-delta-export", "daily_loyalty_members"],
    guest_page_size=7,
)


def _catalog_with_every_stream_selected() -> dict:
    """orders is off by default (a request per guest); the standard tests cover it too."""
    catalog = TapSitecoreCDP(config=CONFIG).catalog_dict
    for stream in catalog["streams"]:
        for item in stream["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
    return catalog


TestTapSitecoreCDP = get_tap_test_class(
    tap_class=TapSitecoreCDP, config=CONFIG, catalog=_catalog_with_every_stream_selected()
)
