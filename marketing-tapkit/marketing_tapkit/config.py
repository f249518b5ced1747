"""Settings every tap shares, and checks that turn bad config into a sentence naming the setting."""

from __future__ import annotations

import difflib
import ipaddress
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from marketing_tapkit.retry import RetryPolicy

DEFAULT_REQUEST_TIMEOUT = 300
#: Retries after the first try: 6 tries in all.
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_CONCURRENT_REQUESTS = 4
MAX_CONCURRENT_REQUESTS = 16


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP settings of a run, parsed once from config and shared by every stream and authenticator."""

    timeout: int
    retry_policy: RetryPolicy
    user_agent: str
    #: Requests a stream may have in flight at once (pages ahead, files ahead); 1 is one at a time.
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], *, default_user_agent: str) -> HttpSettings:
        """`request_timeout`, `max_retries` (retries after the first try) and `user_agent`, with defaults."""
        retries = config.get("max_retries")
        retries = DEFAULT_MAX_RETRIES if retries is None else int(retries)
        return cls(
            timeout=int(config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT),
            retry_policy=RetryPolicy(max_tries=max(0, retries) + 1),
            user_agent=str(config.get("user_agent") or default_user_agent),
            max_concurrent_requests=max(
                1, int(config.get("max_concurrent_requests") or DEFAULT_MAX_CONCURRENT_REQUESTS)
            ),
        )


def http_setting_properties(*, request_timeout: int = DEFAULT_REQUEST_TIMEOUT) -> list[th.Property]:
    """The reliability settings: per-request timeout, retries, and the User-Agent."""
    return [
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=request_timeout,
            title="Request timeout (seconds)",
            description="Seconds to wait for a response (connect, and between bytes of the body) before retrying.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0, maximum=20),
            default=DEFAULT_MAX_RETRIES,
            title="Maximum retries",
            description=(
                "How many times a request that failed with 429, 5xx, a timeout or a dropped connection is "
                "retried (with exponential backoff that honours Retry-After) before the sync fails."
            ),
        ),
        th.Property(
            "max_concurrent_requests",
            th.IntegerType(minimum=1, maximum=MAX_CONCURRENT_REQUESTS),
            default=DEFAULT_MAX_CONCURRENT_REQUESTS,
            title="Maximum concurrent requests",
            description=(
                "Pages (and export files) fetched ahead in parallel where the API's paging allows it; records "
                "are still emitted in page order. 1 fetches one at a time. A 429 halves it for a while."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User-Agent",
            description="User-Agent header sent with every request.",
        ),
    ]


def kit_setting_properties(*, request_timeout: int = DEFAULT_REQUEST_TIMEOUT) -> list[th.Property]:
    """The settings every tap of the kit has: the HTTP ones, and `strict_settings`."""
    return [
        *http_setting_properties(request_timeout=request_timeout),
        th.Property(
            "strict_settings",
            th.BooleanType,
            default=False,
            title="Strict settings",
            description=(
                "Fail, instead of warning, when the config has a setting this tap does not know "
                "(a typo such as `page-size` for `page_size`)."
            ),
        ),
    ]


def unknown_setting_messages(config: t.Mapping[str, t.Any], known: t.Collection[str]) -> list[str]:
    """One sentence per top-level config key that is not a known setting, with the nearest known name."""
    messages = []
    for key in sorted(set(config) - set(known)):
        nearest = difflib.get_close_matches(key.replace("-", "_").lower(), list(known), n=1, cutoff=0.6)
        hint = f"; did you mean `{nearest[0]}`?" if nearest else ""
        messages.append(f"Setting `{key}` is not a setting of this tap, so it has no effect{hint}")
    return messages


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_error(message: str) -> ConfigValidationError:
    """A config error whose message the SDK's CLI prints as is."""
    return ConfigValidationError(message, errors=[message])


def validate_base_url(url: t.Any, setting: str) -> str:
    """Return `url` without a trailing slash, or raise naming `setting` if it is not usable.

    Credentials travel in every request, so plain `http://` is refused except on loopback hosts
    (where the local API emulators run).
    """
    if not isinstance(url, str) or not url.strip():
        raise config_error(f"Setting `{setting}` must be a URL such as https://host.example.com")
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise config_error(
            f"Setting `{setting}` must be an http(s) URL with a host name, got {parts.scheme or 'no'} scheme"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise config_error(
            f"Setting `{setting}` uses plain http:// for {parts.hostname}; credentials would travel "
            "unencrypted. Use https:// (http:// is accepted only for localhost)."
        )
    return url.strip().rstrip("/")


def secret_setting_names(schema: dict[str, t.Any]) -> set[str]:
    """Names of the properties (at any depth) that the config schema marks secret."""
    names: set[str] = set()

    def walk(node: t.Any) -> None:
        if not isinstance(node, dict):
            return
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict):
                if prop.get("secret") or prop.get("writeOnly"):
                    names.add(name)
                walk(prop)
                walk(prop.get("items"))
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key) or []:
                walk(option)

    walk(schema)
    return names


def secret_values(config: t.Mapping[str, t.Any], names: set[str]) -> list[str]:
    """Every string value stored under a secret name, anywhere in `config`."""
    found: list[str] = []

    def walk(node: t.Any) -> None:
        if isinstance(node, Mapping):  # the SDK hands config over as a read-only mapping proxy
            for key, value in node.items():
                if key in names and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config)
    return found
