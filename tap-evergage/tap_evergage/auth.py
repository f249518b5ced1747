"""Evergage authenticates every request with HTTP Basic: API Key ID and API Secret Key (spec evergage.md §1.2)."""

from __future__ import annotations

import typing as t

from singer_sdk.authenticators import BasicAuthenticator


def basic_authenticator(config: t.Mapping[str, t.Any]) -> BasicAuthenticator:
    """The key id as the user name and the secret key as the password (both registered as secrets by the tap)."""
    return BasicAuthenticator(username=config.get("api_key_id", ""), password=config.get("api_secret_key", ""))
