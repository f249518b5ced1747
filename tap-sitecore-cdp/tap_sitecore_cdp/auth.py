"""OAuth 2 client credentials for the Audience export API (spec sitecore-cdp.md §2.1).

The token is requested once per run and shared by every stream that needs it (the tap caches one
authenticator). It is refreshed shortly before it expires, and once more when the API answers 401 to a
token we still believed valid (revoked, or the server's clock ran ahead of ours); the request that got
the 401 is then sent again with the new token. A token request that fails says which of client id,
secret or audience the auth server rejected.
"""

from __future__ import annotations

import logging
import typing as t
from datetime import UTC, datetime
from urllib.parse import urlsplit

import msgspec
import requests
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.retry import RetryPolicy, call_with_retries, is_retriable_status
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

if t.TYPE_CHECKING:
    from marketing_tapkit.redaction import SecretRegistry
    from requests.adapters import BaseAdapter

AUDIENCE = "https://api.sitecorecloud.io"  # the only audience the Audience export API accepts (§2.1)
DEFAULT_AUTH_URL = "https://auth.sitecorecloud.io/oauth/token"
# Clients refresh about a minute before expiry (spec §2.1, after S8 and S16); for short test tokens, a tenth.
REFRESH_MARGIN_SECONDS = 60.0
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


class ClientCredentialsAuthenticator(OAuthAuthenticator):
    """Bearer tokens from the client-credentials grant, with the audience Sitecore requires."""

    def __init__(
        self,
        *,
        auth_endpoint: str,
        client_id: str,
        client_secret: str,
        secrets: SecretRegistry,
        retry_policy: RetryPolicy,
        timeout: int,
        user_agent: str,
    ) -> None:
        super().__init__(
            auth_endpoint=auth_endpoint,
            client_id=client_id,
            client_secret=client_secret,
            oauth_headers={"Accept": "application/json", "User-Agent": user_agent},
        )
        self.logger = logging.getLogger("tap-sitecore-cdp.auth")
        self._secrets = secrets
        self._retry_policy = retry_policy
        self._timeout = timeout
        # Our own session: retries follow the tap's policy, not urllib3's defaults.
        self._session = requests.Session()

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
    def is_token_valid(self) -> bool:
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        margin = min(REFRESH_MARGIN_SECONDS, self.expires_in / 10)
        age = (datetime.now(tz=UTC) - self.last_refreshed).total_seconds()
        return age < self.expires_in - margin

    @override
    def update_access_token(self) -> None:
        self.logger.info("Requesting an access token for the Audience export API")
        requested_at = datetime.now(tz=UTC)
        response = call_with_retries(
            self._request_token, policy=self._retry_policy, logger=self.logger, what="The token request"
        )
        try:
            document = msgspec.json.decode(response.content)
            token = document["access_token"]
        except (msgspec.DecodeError, KeyError, TypeError):
            raise FatalAPIError(
                f"The token endpoint answered HTTP {response.status_code} without an access_token: check `auth_url`."
            ) from None
        self._secrets.add(token)
        self.access_token = token
        expires_in = document.get("expires_in")
        self.expires_in = int(expires_in) if expires_in else None
        self.last_refreshed = requested_at

    def _request_token(self) -> requests.Response:
        response = self._session.post(
            self.auth_endpoint, data=self.oauth_request_body, headers=self._oauth_headers, timeout=self._timeout
        )
        if response.status_code >= 400:
            if is_retriable_status(response.status_code):
                raise RetriableAPIError(f"The token request failed with HTTP {response.status_code}", response)
            raise FatalAPIError(token_error_message(response))
        return response

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = super().authenticate_request(request)
        if self._retry_with_new_token not in request.hooks["response"]:
            request.register_hook("response", self._retry_with_new_token)
        return request

    def _retry_with_new_token(self, response: requests.Response, **send_options: t.Any) -> requests.Response:
        """On 401, get a new token (unless another request already did) and send the request once more.

        A requests response hook, as `HTTPDigestAuth` answers its 401 challenges: the caller receives the
        retried response, so paging, streaming and error handling carry on unchanged.
        """
        original = response.request
        if response.status_code != 401 or original is None:
            return response
        if original.headers.get("Authorization") == f"Bearer {self.access_token}":
            self.logger.info(
                "The Audience export API rejected the access token (HTTP 401): it expired or was revoked "
                "early. Requesting a new one and sending the request again."
            )
            self.update_access_token()
        response.close()
        retry = original.copy()
        retry.headers["Authorization"] = f"Bearer {self.access_token}"
        retry.deregister_hook("response", self._retry_with_new_token)
        adapter = t.cast("BaseAdapter", response.connection)
        answer = adapter.send(retry, **send_options)
        answer.history.append(response)
        answer.request = retry
        return answer
