"""The base class of our taps: fast message writing and secret redaction from the first log line."""

from __future__ import annotations

import atexit
import sys
import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers import capabilities as sdk_capabilities
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from marketing_tapkit.concurrency import RateGate
from marketing_tapkit.config import (
    HttpSettings,
    config_error,
    secret_setting_names,
    secret_values,
    unknown_setting_messages,
)
from marketing_tapkit.redaction import SecretRegistry, install_redaction
from marketing_tapkit.sdk_private import SDKTap

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.singerlib.encoding.simple import Message

_FLUSH_BYTES = 1 << 18


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec serialisation, written in large blocks instead of one flushed write per message.

    The SDK's writer flushes stdout after every message: a system call per record, about a tenth of a
    tap's time. Here RECORD lines gather in a buffer that is written when it passes 256 KiB, and before
    any other message (SCHEMA, STATE, ...) so the order on stdout is unchanged and a STATE never
    reaches the target before the records it covers. At exit, whatever is left is written.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        #: True while a block is being written; a stop asked meanwhile waits in `_after_flush`.
        self.flushing = False
        self._after_flush: Callable[[], None] | None = None
        atexit.register(self.flush)

    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if not isinstance(message, RecordMessage) or len(self._pending) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        self.flushing = True
        try:
            if self._pending:
                sys.stdout.buffer.write(self._pending)
                self._pending = bytearray()
            sys.stdout.flush()
        finally:
            self.flushing = False
        if self._after_flush is not None:
            after, self._after_flush = self._after_flush, None
            after()

    def call_after_flush(self, function: Callable[[], None]) -> bool:
        """Run `function` once the block being written is out; False (and not run) when none is.

        A SIGTERM's handler runs between two statements of whatever the main thread does, and it writes
        a STATE through this writer: in the middle of a flush, that STATE could overtake (or repeat)
        the records of the block, so the stop waits for the block instead.
        """
        if not self.flushing:
            return False
        self._after_flush = function
        return True


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
        return isinstance(writer, BufferedMsgSpecWriter) and writer.call_after_flush(stop)

    @cached_property
    def rate_gate(self) -> RateGate:
        """One gate for every request of the run: a 429 on one stream pauses them all."""
        return RateGate(self.http.max_concurrent_requests)
