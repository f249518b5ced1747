"""Injected misbehaviour: `Fault` (one kind of failure for the next requests on a path) and `FaultPlan`."""

from __future__ import annotations

import dataclasses
import re
import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` requests whose path matches `path`.

    kinds:
    - `status`: answer `status` (default 503) instead of the route; with `retry_after` sets that
      header, `headers` adds more, `body` replaces the vendor-shaped error body.
    - `drop`: send the headers and `after_bytes` of the body, then close the connection.
    - `latency`: wait `seconds` before answering (past the tap's timeout, it is a timeout).
    - `truncate`: send only the first `after_bytes` of the body (or `ratio` of it) as a complete,
      well-framed response: the file itself is cut short (a truncated gzip, an unclosed array).
    - `corrupt`: replace the body's byte range [after_bytes, after_bytes+len(payload)) with `payload`
      (a malformed record in the middle of a page or file); `payload_hex`, when set, gives the payload as
      hexadecimal bytes instead (bytes that are not UTF-8, say).
    """

    kind: str
    path: str = ""
    times: int = 1
    status: int = 503
    retry_after: float | str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: str | None = None
    after_bytes: int = 0
    ratio: float | None = None
    seconds: float = 0.0
    payload: str = "{not json"
    payload_hex: str = ""
    method: str = ""

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None if self.path else True


class FaultPlan:
    """The faults waiting to happen, consumed one application at a time (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, specs: Iterable[dict[str, t.Any]]) -> None:
        with self._lock:
            for spec in specs:
                self._faults.append(Fault(**spec))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.times != 0 and fault.matches(method, path):
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def pending(self) -> list[dict[str, t.Any]]:
        with self._lock:
            return [dataclasses.asdict(f) for f in self._faults if f.times != 0]
