"""The base class of our taps: fast message writing and secret redaction from the first log line."""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.helpers import capabilities as sdk_capabilities
from typing_extensions import override

from marketing_tapkit.concurrency import RateGate
from marketing_tapkit.config import (
    HttpSettings,
    config_error,
    secret_setting_names,
    secret_values,
    unknown_setting_messages,
)
from marketing_tapkit.messages import BufferedMsgSpecWriter
from marketing_tapkit.redaction import SecretRegistry, install_redaction
from marketing_tapkit.sdk_private import SDKTap

if t.TYPE_CHECKING:
    from collections.abc import Callable


def sdk_builtin_setting_names() -> set[str]:
    """Every setting the SDK may add to a tap's config by capability (stream maps, flattening, batch,
    ACTIVATE_VERSION, ...): known settings even where a release appends them only on demand."""
    names: set[str] = set()
    for attribute, value in vars(sdk_capabilities).items():
        if not attribute.endswith("_CONFIG") or attribute.startswith(("TARGET_", "ADD_RECORD_")):
            continue
        schema = value.to_dict() if isinstance(value, th.PropertiesList) else value
        if isinstance(schema, dict):
            names.update((schema.get("properties") or {}).keys())
    return names


class KitTap(SDKTap):
    """A `Tap` that writes Singer messages with msgspec and scrubs secrets from everything it logs."""

    message_writer_class = BufferedMsgSpecWriter

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.secrets = SecretRegistry()
        super().__init__(*args, **kwargs)
        self.secrets.add(*secret_values(self.config, secret_setting_names(self.config_jsonschema)))
        install_redaction(self.secrets)

    @cached_property
    def http(self) -> HttpSettings:
        """Timeout, retry policy and User-Agent of every request of this run (streams and authenticators)."""
        return HttpSettings.from_config(self.config, default_user_agent=f"{self.name}/{self.plugin_version}")

    @override
    def check_settings(self, *, raise_errors: bool) -> None:
        """Name every setting the tap does not know, with the nearest valid one: a warning, or with
        `strict_settings: true` an error, before any request (a typo is otherwise silently ignored)."""
        known = set((self.config_jsonschema.get("properties") or {}).keys()) | {"strict_settings"}
        known |= sdk_builtin_setting_names()
        messages = unknown_setting_messages(self.config, known)
        if not messages:
            return
        # Strict even where the SDK only warns about invalid values (discovery): the user asked for it.
        if self.config.get("strict_settings"):
            raise config_error(" ".join(f"{m}." for m in messages) + " (`strict_settings` is on.)")
        for message in messages:
            self.logger.warning("%s. Set `strict_settings: true` to make this an error.", message)

    @override
    def defer_stop(self, stop: Callable[[], None]) -> bool:
        writer = self.message_writer
        return isinstance(writer, BufferedMsgSpecWriter) and writer.call_after_write(stop)

    @cached_property
    def rate_gate(self) -> RateGate:
        """One gate for every request of the run: a 429 on one stream pauses them all."""
        return RateGate(self.http.max_concurrent_requests)
