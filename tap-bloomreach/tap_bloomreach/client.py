"""The base stream: instance URL, HTTP Basic auth, and Bloomreach's errors (spec §2, §3)."""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import quote, urlsplit

import msgspec
from marketing_tapkit.config import validate_base_url
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.streams import KitRESTStream
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach.envelope import envelope_error, error_text, is_no_permission_text

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests

DEFAULT_API_URL = "https://api.exponea.com"
API_SETTINGS_PAGE = "Project settings > Access management > API"


def project_url(config: t.Mapping[str, t.Any]) -> str:
    """`{api_url}/data/v2/projects/{project_token}`: every read path sits under it (spec §1)."""
    base = validate_base_url(config.get("api_url") or DEFAULT_API_URL, "api_url")
    return f"{base}/data/v2/projects/{quote(str(config.get('project_token', '')), safe='')}"


def vendor_words(response: requests.Response) -> str:
    """The API's own message: from any documented error shape (spec §3.2), else the kit's reading."""
    try:
        document = decoded_json(response)
    except (msgspec.DecodeError, MalformedInputError):
        document = None
    return error_text(document) or vendor_message(response)


class MissingPermissionError(FatalAPIError):
    """The API group of the key lacks the permission an endpoint needs (403, or a 200 `No Permission`)."""


class BloomreachStream(KitRESTStream[t.Any]):
    """A stream of the Bloomreach Engagement data API (private access, HTTP Basic)."""

    #: The API-group permission the endpoint needs (spec §2), named when the API refuses.
    permission: t.ClassVar[str | None] = None
    #: The key of the records in a successful response body.
    records_key: t.ClassVar[str] = "data"

    @override
    @property
    def url_base(self) -> str:
        return project_url(self.config)

    @override
    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(
            username=self.config.get("api_key_id", ""), password=self.config.get("api_secret", "")
        )

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        # Required on every data endpoint, GETs included (spec §2); bodies are never gzipped (§2).
        return {"Content-Type": "application/json", "Accept": "application/json"}

    @override
    def response_error_message(self, response: requests.Response) -> str:
        message = f"{self.name}: {self.request_line(response)} failed with HTTP {response.status_code}: "
        message += vendor_words(response)
        hint = self.error_hint(response)
        return f"{message}. {hint}" if hint else message

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 403 and "secret" not in vendor_words(response).lower():
            raise MissingPermissionError(self.response_error_message(response))
        super().validate_response(response)
        if self.stream_response_body:
            return  # a streamed body is checked as it is read
        self.check_envelope(response)

    def check_envelope(self, response: requests.Response) -> None:
        """Refusals that arrive with HTTP 200: plain-text `No Permission`, or `success: false` (§3.2, §3.3)."""
        if is_no_permission_text(response.content[:64]):
            raise self.refusal(response, response.text.strip()[:200], no_permission=True)
        try:
            document = decoded_json(response)
        except (msgspec.DecodeError, MalformedInputError):
            raise FatalAPIError(
                f"{self.name}: {self.request_line(response)} answered HTTP {response.status_code} with a body "
                f"that is not JSON: {vendor_message(response)}"
            ) from None
        if (message := envelope_error(document)) is not None:
            raise self.refusal(response, message)

    def refusal(self, response: requests.Response, message: str, *, no_permission: bool = False) -> FatalAPIError:
        """The error for a refusal in a 200 response, with the likely cause and the setting to fix."""
        text = f"{self.name}: {self.request_line(response)} answered HTTP 200 with an error: {message}."
        if no_permission or "permission" in message.lower():
            return MissingPermissionError(f"{text} {self.permission_hint()}")
        return FatalAPIError(f"{text} {self.invalid_request_hint()}")

    def request_line(self, response: requests.Response) -> str:
        """`METHOD /path` of the request (no host, no query string)."""
        method = response.request.method if response.request is not None else self.http_method
        return f"{method} {urlsplit(response.url).path if response.url else self.path}"

    def permission_hint(self) -> str:
        if self.permission is None:
            return f"Check the API key's access in {API_SETTINGS_PAGE}."
        return (
            f"The API group of `api_key_id` lacks the permission {self.permission}: grant it to the group "
            f"in {API_SETTINGS_PAGE} (a new group starts with no permissions)."
        )

    def invalid_request_hint(self) -> str:
        """What to check when the API calls a request invalid (400, or 200 with `success: false`)."""
        return "Check the tap's settings."

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        message = vendor_words(response).lower()
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

    def not_found_hint(self) -> str:
        return (
            "Check `api_url`: it must be your instance's API base URL as shown in "
            f"{API_SETTINGS_PAGE} (e.g. https://api.exponea.com or https://api.eu1.exponea.com)."
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        document = decoded_json(response)
        records = document.get(self.records_key) if isinstance(document, dict) else None
        if not isinstance(records, list):
            raise FatalAPIError(
                f"{self.name}: {self.request_line(response)} answered without a `{self.records_key}` list"
            )
        yield from records
