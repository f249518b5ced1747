"""The SDK's standard tap tests, against the Sitecore CDP emulator (see `tests.standard`)."""

from __future__ import annotations

import typing as t

from tap_sitecore_cdp.tap import TapSitecoreCDP

from tests.sitecore_cdp.helpers import config_for
from tests.standard import standard_test_class

if t.TYPE_CHECKING:
    from sandbox.framework import RunningEmulator

# Small files, so that every export is split and every file boundary is crossed.
SETTINGS = {"scale": 20, "max_rows_per_file": 7}


def standard_config(server: RunningEmulator) -> dict[str, t.Any]:
    return config_for(
        server.base_url, audience_exports=["weekly-vip-export", "daily-delta-export", "daily_loyalty_members"],
        guest_page_size=7,
    )


# orders is off by default (a request per guest); the standard tests cover it too.
TestTapSitecoreCDP = standard_test_class(
    TapSitecoreCDP, "sitecore-cdp", SETTINGS, standard_config, select_every_stream=True
)
