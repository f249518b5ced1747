"""HTTP Basic auth with a private API group's key id and secret (spec §2)."""

from __future__ import annotations

import typing as t

from singer_sdk.authenticators import BasicAuthenticator


def api_key_authenticator(config: t.Mapping[str, t.Any]) -> BasicAuthenticator:
    """The `api_key_id` / `api_secret` pair as HTTP Basic credentials (the data API's private access)."""
    return BasicAuthenticator(username=config.get("api_key_id", ""), password=config.get("api_secret", ""))
