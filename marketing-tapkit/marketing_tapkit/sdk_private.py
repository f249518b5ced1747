"""Every use of singer-sdk's private API, in one module.

The SDK offers no public hook for a few things our taps must do: hold ACTIVATE_VERSION until an export
is known to be whole, move a bookmark by something other than the latest record, write a STATE message
at a moment of our choosing, write records without the per-record message objects and selection walk, point
`--test` at a cheap stream, check settings before discovery, and exit non-zero when a signal stops a
sync. Each of those overrides a private method here, behind a public hook of our own (or none needed);
nothing else in the kit or the taps names an SDK private.
`tests/kit/test_sdk_private.py` checks every signature used here, so an SDK upgrade that changes one
fails loudly there instead of silently in a sync.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
import typing as t
from datetime import datetime
from functools import cached_property

from singer_sdk import RESTStream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from marketing_tapkit.messages import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    import click
    from singer_sdk.helpers.types import Context

_TToken = t.TypeVar("_TToken")

#: Seconds a tap stopped by a signal has to finish unwinding, after its last STATE is out.
STOP_GRACE_SECONDS = 5.0

#: The private names this module relies on, by owner: the signature test walks this list.
PRIVATE_NAMES: dict[str, tuple[str, ...]] = {
    "singer_sdk.Stream": (
        "_write_record_message", "_write_activate_version_message", "_increment_stream_state",
        "_process_record",
        "_write_state_message", "_tap", "_input_schema", "_stream_version",
    ),
    "singer_sdk.helpers._util": ("utc_now",),
    "singer_sdk.Tap": ("cb_test", "_validate_config", "_handle_termination"),
}


class SDKStream(RESTStream[_TToken]):
    """`RESTStream` with public hooks where the SDK has only private methods."""

    #: Hold the ACTIVATE_VERSION message the SDK sends before a full-table sync's first record, until
    #: `release_activate_version()`: a target acting on it drops the previous table, which must not
    #: happen before the new one is known to be complete.
    hold_activate_version: t.ClassVar[bool] = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_activate_version: int | None = None
        self._extracted_checked_at = float("-inf")
        self._extracted_at = utc_now()

    @property
    def kit_tap(self) -> Tap:
        """The tap this stream belongs to."""
        return self._tap

    @property
    def catalog_schema(self) -> dict[str, t.Any] | None:
        """The schema the input catalog gave this stream; None when it ran without one."""
        return self._input_schema

    def bookmark_record(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any] | None:
        """The record whose replication key the bookmark moves to after `record`; None to leave it.

        Override to cap a bookmark (at a scan's start) or to move it elsewhere (once per export job).
        """
        return record

    @override
    def _increment_stream_state(self, latest_record: dict[str, t.Any], *, context: Context | None = None) -> None:
        if not self.replication_key:
            return  # a full-table stream has no bookmark to move (the SDK would still resolve its method)
        record = self.bookmark_record(latest_record, context)
        if record is not None:
            super()._increment_stream_state(record, context=context)

    def write_state_now(self) -> None:
        """Write a STATE message now (the SDK writes one only every `STATE_MSG_FREQUENCY` records)."""
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def _write_activate_version_message(self, full_table_version: int) -> None:
        if self.hold_activate_version:
            self._held_activate_version = full_table_version
            return
        super()._write_activate_version_message(full_table_version)

    def release_activate_version(self) -> None:
        """Send the ACTIVATE_VERSION that `hold_activate_version` held back (once)."""
        if self._held_activate_version is not None:
            version, self._held_activate_version = self._held_activate_version, None
            super()._write_activate_version_message(version)

    @cached_property
    def _fast_records(self) -> bool:
        # The SDK walks every record to drop deselected properties, even when none is deselected (the
        # usual case), and conforms types when asked: the kit's path only where neither is needed.
        return all(self.mask.values()) and self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        # With the kit's writer, each record's line is encoded straight into its buffer (no message
        # object, no dict of it, no copy of the line): a sixth of a large export's time.
        writer = self._tap.message_writer
        if not self._fast_records or not isinstance(writer, BufferedMsgSpecWriter):
            super()._write_record_message(record)
            return
        extracted_at = self._time_extracted()
        for alias, transform in self._record_maps:
            mapped = transform(record) if transform is not None else record
            if mapped is not None:
                writer.write_record(alias, mapped, self._stream_version, extracted_at)
        self.state_manager.is_flushed = False

    @cached_property
    def _record_maps(self) -> list[tuple[str, Callable[[dict[str, t.Any]], dict[str, t.Any] | None] | None]]:
        """Each stream map's alias and transform; None for the SDK's identity map without flattening
        (four calls per record that return the record as it is)."""
        return [
            (m.stream_alias, None if type(m) is SameRecordTransform and not m.flattening_enabled else m.transform)
            for m in self.stream_maps
        ]

    @override
    def _process_record(
        self,
        record: dict[str, t.Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        # Without partition keys to add and children to sync, the SDK's per-record step does nothing.
        if partition_context or self.child_streams:
            super()._process_record(record, child_context, partition_context)

    def _time_extracted(self) -> datetime:
        """`utc_now()` to the second, read from the clock at most once a second (it was 5% of a sync)."""
        now = time.monotonic()
        if now - self._extracted_checked_at >= 1.0:
            self._extracted_checked_at, self._extracted_at = now, utc_now()
        return self._extracted_at


class SDKTap(Tap):
    """`Tap` whose `--test` can check the connection with chosen streams only, and whose sync, stopped by
    SIGTERM or SIGINT, exits with the signal's code."""

    #: Stream classes (with static schemas) whose first record `--test` reads, instead of one record of
    #: every stream: for taps where some stream's first record is expensive (a whole-table export).
    #: Empty: the SDK's default.
    connection_test_streams: t.ClassVar[tuple[t.Any, ...]] = ()  # stream classes: `name` is no class attribute to mypy

    #: Set when a SIGTERM or SIGINT has begun the shutdown.
    stopping_by_signal = False

    def check_settings(self, *, raise_errors: bool) -> None:
        """Further checks of the config, run as the SDK validates it: before discovery and any request."""

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=raise_errors)
        self.check_settings(raise_errors=raise_errors)
        return errors

    def defer_stop(self, stop: Callable[[], None]) -> bool:
        """Run `stop` later, when the message writer is between two messages; False: run it now."""
        return False

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping_by_signal:
            return  # the same signal again (from the OS and from Meltano): the shutdown is under way
        self.stopping_by_signal = True
        stop = functools.partial(self._stop_by_signal, signum, frame)
        if not self.defer_stop(stop):
            stop()

    def _stop_by_signal(self, signum: int, frame: FrameType | None) -> t.NoReturn:
        # The SDK writes the tap's state (the writer first flushes the records that state covers) and
        # then exits 0: a scheduler watching the tap alone would take a stopped sync for a finished one.
        # Same state, then the shell's code for death by that signal: 143 for SIGTERM, 130 for SIGINT.
        code = 128 + signum
        self.logger.warning("Stopped by %s before the sync finished.", signal.Signals(signum).name)
        with contextlib.suppress(SystemExit):
            super()._handle_termination(signum, frame)
        # Unwinding closes downloads and deletes their files; a worker thread still inside a request
        # would hold the interpreter's exit up to its timeout, so a daemon timer cuts that short.
        watchdog = threading.Timer(STOP_GRACE_SECONDS, os._exit, (code,))
        watchdog.daemon = True
        watchdog.start()
        raise SystemExit(code)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        if value != CliTestOptionValue.All.value or not cls.connection_test_streams:
            super().cb_test(ctx, param, value)
            return
        config_input = ctx.params.get("config")
        # A catalog of those streams only, so that setting up stream maps discovers no other stream.
        catalog = {"streams": [
            {
                "tap_stream_id": stream.name, "stream": stream.name, "schema": stream.schema,
                "key_properties": list(stream.primary_keys or []),
                "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
            }
            for stream in cls.connection_test_streams
        ]}
        try:
            tap = cls(
                config=getattr(config_input, "config", None),
                parse_env_config=bool(getattr(config_input, "parse_env", False)),
                validate_config=True,
                catalog=catalog,
            )
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("Config validation error: %s", error)
            ctx.exit(1)
        tap.run_sync_dry_run(
            dry_run_record_limit=1, streams=[tap.streams[stream.name] for stream in cls.connection_test_streams]
        )
        ctx.exit()
