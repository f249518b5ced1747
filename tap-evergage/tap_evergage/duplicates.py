"""Counting the second copies of profiles that the live export serves when a user changes mid-download."""

from __future__ import annotations

import heapq
from array import array
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


class DuplicateCounter:
    """Counts ids seen more than once in a partition, in 8 bytes per id (a set would take ~70).

    The export reads a live store, so a user updated mid-download appears twice and the later copy
    is current (spec evergage.md §3). Both copies are emitted, in order, and the target's primary-key
    upsert keeps the later one; this only counts them for the log. Hashes are kept in sorted runs of
    fixed size and merged lazily at the end, so no step ever holds them as Python objects all at once.
    """

    RUN = 1 << 16

    def __init__(self) -> None:
        self._runs: list[array[int]] = []
        self._current = array("q")
        #: Records counted so far.
        self.count = 0

    def add_all(self, keys: Iterable[str | None]) -> None:
        """Count one more record per id in `keys` (a page at once: hashed in C, no Python call per record)."""
        before = len(self._current)
        self._current.extend(map(hash, keys))
        self.count += len(self._current) - before
        if len(self._current) >= self.RUN:
            self._seal()

    def _seal(self) -> None:
        if self._current:
            self._runs.append(array("q", sorted(self._current)))
            self._current = array("q")

    def duplicates(self) -> int:
        """How many of the records counted so far repeat an id counted before."""
        self._seal()
        return sum(1 for a, b in pairwise(heapq.merge(*self._runs)) if a == b)
