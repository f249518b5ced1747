"""The two APIs' credentials: OAuth 2 client credentials (Audience export API, spec sitecore-cdp.md §2.1) and
Basic auth (Guest REST API, §2.2).

The OAuth token is requested once per run and shared by every stream that needs it (the tap caches one
authenticator); the kit's `KitOAuthAuthenticator` refreshes it early and once more on a 401. What is
Sitecore's here: the audience the token must be asked for, and a failed token request that says which of
client id, secret or audience the auth server rejected, and where the keys live.
"""

from __future__ import annotations

import base64
import typing as t
from urllib.parse import urlsplit

import msgspec
from marketing_tapkit.auth import KitOAuthAuthenticator
from marketing_tapkit.config import validate_base_url
from marketing_tapkit.errors import vendor_message
from singer_sdk.authenticators import BasicAuthenticator
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import requests
    from marketing_tapkit.config import HttpSettings
    from marketing_tapkit.redaction import SecretRegistry

AUDIENCE = "https://api.sitecorecloud.io"  # the only audience the Audience export API accepts (§2.1)
DEFAULT_AUTH_URL = "https://auth.sitecorecloud.io/oauth/token"
WHERE_KEYS_LIVE = (
    "The API key and secret come from the Cloud Portal: open Sitecore CDP, then Developer center > "
    "API keys (an API key with access to the Audience export API)."
)


def token_error_message(response: requests.Response) -> str:
    """What the auth server rejected and which setting to fix, from a failed token response.

    The error body is Auth0's `{"error", "error_description"}` (GUESSED in spec §2.1): an unknown client
    is `invalid_client`, a wrong secret `access_denied`/`Unauthorized`, and an API key that is not
    enabled for the audience is refused with 403 or a description that names the audience or service.
    """
    try:
        body = msgspec.json.decode(response.content or b"{}")
    except msgspec.DecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    error = str(body.get("error") or "")
    description = str(body.get("error_description") or body.get("message") or "")
    words = f"{error} {description}".lower()
    said = description or error or vendor_message(response)
    if response.status_code == 403 or any(w in words for w in ("audience", "service", "not authorized to access",
                                                                "grant")):
        cause = (
            f"the audience {AUDIENCE} was rejected: this API key is not enabled for the Audience export API. "
            "Create an API key with access to audience exports and set its values as `client_id` and "
            "`client_secret`."
        )
    elif error == "invalid_client" or "unknown client" in words or "client_id" in words:
        cause = "the client id was rejected (no such API key): check the setting `client_id`."
    elif response.status_code == 401 or error in {"access_denied", "unauthorized_client"}:
        cause = "the client secret was rejected for this client id: check the setting `client_secret`."
    else:
        cause = "check the settings `client_id`, `client_secret` and `auth_url`."
    where = urlsplit(response.url).path if response.url else "the token endpoint"
    return f"The token request to {where} failed with HTTP {response.status_code} ({said}): {cause} {WHERE_KEYS_LIVE}"


class ClientCredentialsAuthenticator(KitOAuthAuthenticator):
    """Bearer tokens from the client-credentials grant, with the audience Sitecore requires."""

    @override
    @property
    def oauth_request_body(self) -> dict[str, t.Any]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "audience": AUDIENCE,
        }

    @override
    def token_error_message(self, response: requests.Response) -> str:
        return token_error_message(response)


def audience_export_authenticator(
    config: Mapping[str, t.Any], *, http: HttpSettings, secrets: SecretRegistry
) -> ClientCredentialsAuthenticator:
    """The OAuth authenticator of the Audience export API, with the run's HTTP settings."""
    return ClientCredentialsAuthenticator(
        auth_endpoint=validate_base_url(config.get("auth_url") or DEFAULT_AUTH_URL, "auth_url"),
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        http=http,
        secrets=secrets,
        logger_name="tap-sitecore-cdp.auth",
    )


def guest_api_authenticator(config: Mapping[str, t.Any], *, secrets: SecretRegistry) -> BasicAuthenticator:
    """Basic auth with the client key and API token (spec §2.2)."""
    client_key, api_token = config["client_key"], config["api_token"]
    # The encoded pair is as secret as the token inside it.
    secrets.add(base64.b64encode(f"{client_key}:{api_token}".encode()).decode())
    return BasicAuthenticator(username=client_key, password=api_token)
