"""Singer messages out: the buffered msgspec writer, with a direct path for RECORD lines."""

from __future__ import annotations

import atexit
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib import RecordMessage

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from singer_sdk.singerlib.encoding.simple import Message

_FLUSH_BYTES = 1 << 18


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec serialisation, written in large blocks instead of one flushed write per message.

    The SDK's writer flushes stdout after every message: a system call per record, about a tenth of a
    tap's time. Here RECORD lines gather in a buffer that is written when it passes 256 KiB, and before
    any other message (SCHEMA, STATE, ...) so the order on stdout is unchanged and a STATE never
    reaches the target before the records it covers. At exit, whatever is left is written.

    `write_record` encodes a RECORD line straight into the buffer, the same bytes as the SDK's
    `RecordMessage` through `format_message` (the same encoder, keys in the same order), without
    building the message object, its dict, and a copy of the line for every record.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        #: True while a line or a block is being written; a stop asked meanwhile waits in `_after_write`.
        self.writing = False
        self._after_write: Callable[[], None] | None = None
        self._heads: dict[str, bytes] = {}
        self._tail_key: tuple[int | None, datetime | None] | None = None
        self._tail = b"}\n"
        atexit.register(self.flush)

    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if not isinstance(message, RecordMessage) or len(self._pending) >= _FLUSH_BYTES:
            self.flush()

    def write_record(
        self, stream: str, record: dict[str, t.Any], version: int | None, time_extracted: datetime | None
    ) -> None:
        """Append one RECORD line (what `write_message(RecordMessage(...))` would write)."""
        head = self._heads.get(stream)
        if head is None:
            head = self._heads[stream] = b'{"type":"RECORD","stream":' + encoder.encode(stream) + b',"record":'
        if self._tail_key != (version, time_extracted):
            self._tail = _record_tail(version, time_extracted)
            self._tail_key = (version, time_extracted)
        pending = self._pending
        self.writing = True
        pending += head
        encoder.encode_into(record, pending, -1)
        pending += self._tail
        self.writing = False
        if self._after_write is not None:
            self._run_after_write()
        if len(pending) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        self.writing = True
        try:
            if self._pending:
                sys.stdout.buffer.write(self._pending)
                self._pending = bytearray()
            sys.stdout.flush()
        finally:
            self.writing = False
        if self._after_write is not None:
            self._run_after_write()

    def call_after_write(self, function: Callable[[], None]) -> bool:
        """Run `function` once the line or block being written is whole; False (and not run) when none is.

        A SIGTERM's handler runs between two statements of whatever the main thread does, and it writes
        a STATE through this writer: in the middle of a line, the STATE would tear it; in the middle of
        a flush, it could overtake (or repeat) the block's records. So the stop waits for the write.
        """
        if not self.writing:
            return False
        self._after_write = function
        return True

    def _run_after_write(self) -> None:
        after, self._after_write = self._after_write, None
        if after is not None:
            after()


def _record_tail(version: int | None, time_extracted: datetime | None) -> bytes:
    """The end of a RECORD line: `RecordMessage.to_dict` puts version and time_extracted after the record."""
    tail = b""
    if version is not None:
        tail += b',"version":' + encoder.encode(version)
    if time_extracted is not None:
        tail += b',"time_extracted":' + encoder.encode(time_extracted)
    return tail + b"}\n"
