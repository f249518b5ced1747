"""The base stream: instance URL, HTTP Basic auth, and Bloomreach's errors (spec §2, §3)."""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import quote

from marketing_tapkit.config import validate_base_url
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.streams import KitRESTStream, request_line
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach.auth import api_key_authenticator
from tap_bloomreach.envelope import body_error_message, envelope_error, is_no_permission_text

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.authenticators import BasicAuthenticator

DEFAULT_API_URL = "https://api.exponea.com"
API_SETTINGS_PAGE = "Project settings > Access management > API"


def project_url(config: t.Mapping[str, t.Any]) -> str:
    """`{api_url}/data/v2/projects/{project_token}`: every read path sits under it (spec §1)."""
    base = validate_base_url(config.get("api_url") or DEFAULT_API_URL, "api_url")
    return f"{base}/data/v2/projects/{quote(str(config.get('project_token', '')), safe='')}"


class MissingPermissionError(FatalAPIError):
    """The API group of the key lacks the permission an endpoint needs (403, or a 200 `No Permission`)."""


class BloomreachStream(KitRESTStream[t.Any]):
    """A stream of the Bloomreach Engagement data API (private access, HTTP Basic)."""

    #: The API-group permission the endpoint needs (spec §2), named when the API refuses.
    permission: t.ClassVar[str | None] = None
    records_key = "data"

    @override
    @property
    def url_base(self) -> str:
        return project_url(self.config)

    @override
    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return api_key_authenticator(self.config)

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        # Required on every data endpoint, GETs included (spec §2); bodies are never gzipped (§2).
        return {"Content-Type": "application/json", "Accept": "application/json"}

    # Errors ---------------------------------------------------------------------------------------

    @override
    def vendor_message(self, response: requests.Response) -> str:
        """The API's own message: from any documented error shape (spec §3.2), else the kit's reading."""
        try:
            document = decoded_json(response)
        except MalformedInputError:
            document = None
        return body_error_message(document) or super().vendor_message(response)

    @override
    def check_status(self, response: requests.Response) -> None:
        # A 403 is a missing permission, unless the API says the secret is wrong (spec §3.2).
        if response.status_code == 403 and "secret" not in self.vendor_message(response).lower():
            raise MissingPermissionError(self.response_error_message(response))
        super().check_status(response)

    @override
    def validate_response(self, response: requests.Response) -> None:
        super().validate_response(response)
        self.check_envelope(response)

    def check_envelope(self, response: requests.Response) -> None:
        """Refusals that arrive with HTTP 200: plain-text `No Permission`, or `success: false` (§3.2, §3.3)."""
        if is_no_permission_text(response.content[:64]):
            raise self.refusal(response, response.text.strip()[:200], no_permission=True)
        try:
            document = decoded_json(response)
        except MalformedInputError:
            raise FatalAPIError(
                f"{self.name}: {request_line(response, self.http_method)} answered HTTP {response.status_code} "
                f"with a body that is not JSON: {self.vendor_message(response)}"
            ) from None
        if (message := envelope_error(document)) is not None:
            raise self.refusal(response, message)

    def refusal(self, response: requests.Response, message: str, *, no_permission: bool = False) -> FatalAPIError:
        """The error for a refusal in a 200 response, with the likely cause and the setting to fix."""
        text = f"{self.name}: {request_line(response, self.http_method)} answered HTTP 200 with an error: {message}."
        if no_permission or "permission" in message.lower():
            return MissingPermissionError(f"{text} {self.permission_hint()}")
        return FatalAPIError(f"{text} {self.invalid_request_hint()}")

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        message = self.vendor_message(response).lower()
        status = response.status_code
        if status == 400 and "project" in message:
            return f"Check `project_token` (shown with the base URL in {API_SETTINGS_PAGE})."
        if status == 400 and "authenticate" in message:
            return "Check `api_key_id` and `api_secret`."
        if status == 400:
            return self.invalid_request_hint()
        if status == 401:
            return (
                "Check `api_key_id`: it must be the API Key ID of a private API group (HTTP Basic access) "
                f"in {API_SETTINGS_PAGE}."
            )
        if status == 403 and "secret" in message:
            return "Check `api_secret` (after a rotation the previous secret stays valid for 24 hours only)."
        if status == 403:
            return self.permission_hint()
        if status == 404:
            return self.not_found_hint()
        return None

    def permission_hint(self) -> str:
        """Which permission to grant to the key's API group."""
        if self.permission is None:
            return f"Check the API key's access in {API_SETTINGS_PAGE}."
        return (
            f"The API group of `api_key_id` lacks the permission {self.permission}: grant it to the group "
            f"in {API_SETTINGS_PAGE} (a new group starts with no permissions)."
        )

    def invalid_request_hint(self) -> str:
        """What to check when the API calls a request invalid (400, or 200 with `success: false`)."""
        return "Check the tap's settings."

    def not_found_hint(self) -> str:
        """What to check when the API answers 404."""
        return (
            "Check `api_url`: it must be your instance's API base URL as shown in "
            f"{API_SETTINGS_PAGE} (e.g. https://api.exponea.com or https://api.eu1.exponea.com)."
        )

    # Requests outside the paging loop -------------------------------------------------------------

    def get_document(self, url: str, *, what: str, params: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        """GET `url` (a path or a full URL) with retries and the checks of a page; its JSON object ({} if none)."""
        response = self.request("GET", url, what=what, params=params)
        if response is None:  # nothing is tolerated here; for the type checker
            return {}
        self.check_envelope(response)
        document = decoded_json(response)
        return document if isinstance(document, dict) else {}
