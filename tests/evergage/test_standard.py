"""The SDK's standard tap tests, against the Evergage emulator."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class
from tap_evergage.tap import TapEvergage

from tests.support import start_emulator

# accounts_mode="data": a tenant that still has Account Profiles, so every stream has records.
_SERVER = start_emulator("evergage", scale=30, accounts_mode="data")
atexit.register(_SERVER.stop)

CONFIG = {
    "api_url": _SERVER.base_url,
    "api_key_id": "sandbox-api-key-id",
    "api_secret_key": "sandbox-api-secret-key-0f6c2b",
    "datasets": ["engage", "mobile"],
    "segments": ["High Value"],
    "page_size": 7,
}


def _catalog_with_every_stream_selected() -> dict:
    """accounts is off by default (retired by the vendor); the standard tests cover it too."""
    catalog = TapEvergage(config=CONFIG).catalog_dict
    for stream in catalog["streams"]:
        for item in stream["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
    return catalog


TestTapEvergage = get_tap_test_class(
    tap_class=TapEvergage, config=CONFIG, catalog=_catalog_with_every_stream_selected()
)
