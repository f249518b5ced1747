"""OAuth 2 bearer tokens with the run's HTTP settings, refreshed early, and once more on a 401.

The token is requested once per run and shared by every stream that needs it (a tap caches one
authenticator). It is refreshed shortly before it expires, and once more when the API answers 401 to a
token we still believed valid (revoked, or the server's clock ran ahead of ours); the request that got
the 401 is then sent again with the new token. Token requests follow the run's timeout, retry policy
and User-Agent; every token is registered with the redaction filter before it is used.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from datetime import UTC, datetime
from urllib.parse import urlsplit

import msgspec
import requests
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

from marketing_tapkit.errors import JSON_DECODE_ERRORS, vendor_message
from marketing_tapkit.retry import call_with_retries, is_retriable_status

if t.TYPE_CHECKING:
    from requests.adapters import BaseAdapter

    from marketing_tapkit.config import HttpSettings
    from marketing_tapkit.redaction import SecretRegistry

#: Clients refresh about a minute before expiry; for short-lived tokens, a tenth of their life.
REFRESH_MARGIN_SECONDS = 60.0


class KitOAuthAuthenticator(OAuthAuthenticator):
    """Bearer tokens from a token endpoint; subclasses give `oauth_request_body` and `token_error_message`."""

    def __init__(
        self,
        *,
        auth_endpoint: str,
        client_id: str,
        client_secret: str,
        http: HttpSettings,
        secrets: SecretRegistry,
        logger_name: str,
    ) -> None:
        super().__init__(auth_endpoint=auth_endpoint, client_id=client_id, client_secret=client_secret)
        self.logger = logging.getLogger(logger_name)
        self.http = http
        self.secrets = secrets
        # The token endpoint's connection pool; retries follow the run's policy, not urllib3's defaults.
        self.token_session = requests.Session()
        self.token_lock = threading.RLock()

    @property
    def token_request_headers(self) -> dict[str, str]:
        """Headers of the token request."""
        return {"Accept": "application/json", "User-Agent": self.http.user_agent}

    def token_error_message(self, response: requests.Response) -> str:
        """What the token endpoint rejected and which setting to fix (override with the vendor's causes)."""
        where = urlsplit(response.url).path if response.url else "the token endpoint"
        return (f"The token request to {where} failed with HTTP {response.status_code} ({vendor_message(response)}): "
                "check the client id and secret settings.")

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
        self.logger.info("Requesting an access token")
        requested_at = datetime.now(tz=UTC)
        response = call_with_retries(
            self.request_token, policy=self.http.retry_policy, logger=self.logger, what="The token request"
        )
        try:
            document = msgspec.json.decode(response.content)
            token = document["access_token"]
        except (*JSON_DECODE_ERRORS, KeyError, TypeError):
            raise FatalAPIError(
                f"The token endpoint answered HTTP {response.status_code} without an access_token: check `auth_url`."
            ) from None
        self.secrets.add(token)
        self.access_token = token
        expires_in = document.get("expires_in")
        self.expires_in = int(expires_in) if expires_in else None
        self.last_refreshed = requested_at

    def request_token(self) -> requests.Response:
        """One token request: retriable failures raise `RetriableAPIError`, others the vendor's causes."""
        response = self.token_session.post(
            self.auth_endpoint, data=self.oauth_request_body, headers=self.token_request_headers,
            timeout=self.http.timeout,
        )
        if response.status_code >= 400:
            if is_retriable_status(response.status_code):
                raise RetriableAPIError(f"The token request failed with HTTP {response.status_code}", response)
            raise FatalAPIError(self.token_error_message(response))
        return response

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # Pages fetched in parallel share the token: one of them refreshes it, the others wait for it.
        with self.token_lock:
            if not self.is_token_valid():
                self.update_access_token()
        request = super().authenticate_request(request)
        if self.retry_with_new_token not in request.hooks["response"]:
            request.register_hook("response", self.retry_with_new_token)
        return request

    def retry_with_new_token(self, response: requests.Response, **send_options: t.Any) -> requests.Response:
        """On 401, get a new token (unless another request already did) and send the request once more.

        A requests response hook, as `HTTPDigestAuth` answers its 401 challenges: the caller receives the
        retried response, so paging, streaming and error handling carry on unchanged.
        """
        original = response.request
        if response.status_code != 401 or original is None:
            return response
        with self.token_lock:
            if original.headers.get("Authorization") == f"Bearer {self.access_token}":
                self.logger.info(
                    "The API rejected the access token (HTTP 401): it expired or was revoked early. Requesting a "
                    "new one and sending the request again."
                )
                self.update_access_token()
        response.close()
        retry = original.copy()
        retry.headers["Authorization"] = f"Bearer {self.access_token}"
        retry.deregister_hook("response", self.retry_with_new_token)
        adapter = t.cast("BaseAdapter", response.connection)
        answer = adapter.send(retry, **send_options)
        answer.history.append(response)
        answer.request = retry
        return answer
