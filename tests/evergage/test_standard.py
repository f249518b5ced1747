"""The SDK's standard tap tests, against the Evergage emulator (see `tests.standard`)."""

from __future__ import annotations

import typing as t

from tap_evergage.tap import TapEvergage

from tests.standard import standard_test_class

if t.TYPE_CHECKING:
    from sandbox.framework import RunningEmulator

# accounts_mode="data": a tenant that still has Account Profiles, so every stream has records.
SETTINGS = {"scale": 30, "accounts_mode": "data"}


def config_for(server: RunningEmulator) -> dict[str, t.Any]:
    return {
        "api_url": server.base_url,
        "api_key_id": "sandbox-api-key-id",
        "api_secret_key": "sandbox-api-secret-key-0f6c2b",
        "datasets": ["engage", "mobile"],
        "segments": ["High Value"],
        "page_size": 7,
    }


# accounts is off by default (retired by the vendor); the standard tests cover it too.
TestTapEvergage = standard_test_class(TapEvergage, "evergage", SETTINGS, config_for, select_every_stream=True)
