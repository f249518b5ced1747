"""Body builders every emulator shares: stable hashes for generated data, JSON, JSON Lines and CSV
written piece by piece, and `chunked` to group small pieces into fewer, larger writes.

Data is generated from `(seed, collection, index)` on the fly, never stored, so that a collection of
millions costs no memory and two runs with the same seed serve the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import typing as t

import msgspec

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

CHUNK_TARGET = 64 * 1024
CSV_FLUSH_BYTES = 16 * 1024
T = t.TypeVar("T")


def stable_hash(*parts: object) -> int:
    """A 64-bit integer that depends only on `parts` (not on the process, unlike `hash()`)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Seeded:
    """Something that reads `seed` and `scale` from its `settings` (an emulator, or its generators)."""

    settings: dict[str, t.Any]

    @property
    def seed(self) -> int:
        return int(self.settings["seed"])

    @property
    def scale(self) -> int:
        return int(self.settings["scale"])


class GeneratedData(Seeded):
    """Base of a vendor's record generators: they read the emulator's live settings (seed, scale, ...)."""

    def __init__(self, settings: dict[str, t.Any]) -> None:
        self.settings = settings


_JSON_ENCODER = msgspec.json.Encoder()


def json_bytes(value: t.Any) -> bytes:
    """Compact JSON, as vendors send it (msgspec: the emulator must outpace the taps it serves)."""
    return _JSON_ENCODER.encode(value)


def chunked(pieces: Iterable[bytes], target: int = CHUNK_TARGET) -> Iterator[bytes]:
    """Group many small byte strings into chunks of about `target` bytes (fewer, larger writes)."""
    buffer: list[bytes] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= target:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def json_array_stream(records: Iterable[t.Any], encode: Callable[[t.Any], bytes] = json_bytes) -> Iterator[bytes]:
    """A JSON array written element by element, for bodies too large to build in memory."""
    yield b"["
    first = True
    for record in records:
        yield encode(record) if first else b"," + encode(record)
        first = False
    yield b"]"


_JSON_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_lines(records: Iterable[t.Any]) -> Iterator[bytes]:
    """JSON Lines as vendors' export files hold them (the standard library's encoding, non-ASCII kept)."""
    for record in records:
        yield _JSON_LINE(record).encode() + b"\n"


def csv_body(
    rows: Iterable[Iterable[t.Any]],
    header: Sequence[str] | None = None,
    *,
    delimiter: str = ",",
    quote_all: bool = False,
) -> Iterator[bytes]:
    """CSV (CRLF line ends, the csv module's quoting) written row by row, `header` first if given.

    Cells are written as the csv module writes them (None as an empty cell); a vendor's own cell
    rendering (booleans, nested values) is the caller's. The output comes in pieces of about 16 KiB.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n",
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    if header is not None:
        writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CSV_FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def peek(items: Iterable[T]) -> tuple[T | None, Iterator[T]]:
    """The first item (None if there is none) and an iterator over all of them, the first included."""
    iterator = iter(items)
    first = next(iterator, None)
    return first, (iterator if first is None else _prepend(first, iterator))


def _prepend(first: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield from rest
