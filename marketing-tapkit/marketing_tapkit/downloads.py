"""Reading a large body (an export file, a whole-table export) to the end, across the failures of a long read.

A body of millions of rows takes minutes to arrive, and in that time a connection drops, a presigned
URL expires, or a gzip member arrives damaged. `ResumableRows` opens the body again after such a
failure and carries on after the last row it delivered, so no row is lost and none is delivered twice;
a body malformed at its source (the same every time) fails at once, with the hint the caller gives.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import tempfile
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
import urllib3
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from marketing_tapkit.readers import (
    DEFAULT_CSV,
    CorruptInputError,
    CSVOptions,
    MalformedInputError,
    TruncatedInputError,
    read_any_records,
    response_stream,
)
from marketing_tapkit.retry import describe_failure

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

    from marketing_tapkit.readers import Numbered
    from marketing_tapkit.retry import RetryPolicy
    from marketing_tapkit.streams import KitRESTStream

#: Failures of a body being read that say it did not arrive whole: worth reading again.
BODY_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    RetriableAPIError,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


class ExpiredURLError(Exception):
    """A presigned URL was refused (S3 answers 403 once it has expired): fresh URLs are needed."""


@dataclass
class ResumableRows:
    """The numbered rows of one body, read again after a failure and resumed after the last row delivered.

    `open_rows` opens the body and returns a context manager over its `(number, row)` pairs; rows are
    numbered from 1 the same way on every opening. `refresh` is called after `ExpiredURLError` (to fetch
    fresh URLs) before the body is opened again. With `resume=False` a new opening starts over at row 1
    and every row is delivered again (for a body that may differ between openings, so that row numbers
    do not identify rows: a live table's export); tries are then counted over the whole read.
    """

    source: str
    open_rows: Callable[[], AbstractContextManager[Iterator[Numbered]]]
    policy: RetryPolicy
    logger: logging.Logger
    #: Appended to the error of a body that is malformed at its source (which setting to check).
    malformed_hint: str = ""
    #: Appended when the tries are spent (what state the run leaves, what to do).
    give_up_hint: str = "Re-run the sync, or raise `max_retries`."
    refresh: Callable[[], None] | None = None
    max_refreshes: int = 3
    resume: bool = True
    redact: Callable[[str], str] = field(default=lambda text: text)

    def rows(self, after_row: int = 0) -> Iterator[Numbered]:
        """Every `(number, row)` after row `after_row`, to the end of the body."""
        last = after_row
        failures = refreshes = 0
        while True:
            start = last if self.resume else 0
            try:
                with self.open_rows() as numbered:
                    for number, row in numbered:
                        if number > start:
                            last = number
                            yield number, row
                return
            except ExpiredURLError:
                refreshes = 0 if last > start else refreshes + 1
                if refreshes > self.max_refreshes or self.refresh is None:
                    raise FatalAPIError(
                        f"{self.source}: the presigned download URL was refused {refreshes} times in a row, even "
                        "fresh ones (S3 answers 403 once they expire). Check this machine's clock, then re-run: "
                        "the sync resumes where it stopped."
                    ) from None
                self.logger.info("%s: the presigned URL has expired; asking for fresh ones", self.source)
                self.refresh()
            except MalformedInputError as error:
                # A cut or damaged body is fetched again; one malformed at its source fails at once.
                if not isinstance(error, TruncatedInputError | CorruptInputError):
                    raise FatalAPIError(f"{error}. {self.malformed_hint}".rstrip(". ") + ".") from None
                failures = self._wait_or_give_up(error, failures, progressed=self.resume and last > start)
            except BODY_TRANSPORT_ERRORS as error:
                failures = self._wait_or_give_up(error, failures, progressed=self.resume and last > start)

    def _wait_or_give_up(self, error: BaseException, failures: int, *, progressed: bool) -> int:
        """Sleep before the next opening, or raise once `policy.max_tries` openings failed without progress."""
        failures = 1 if progressed else failures + 1
        detail = self.redact(describe_failure(error) if not isinstance(error, MalformedInputError) else str(error))
        if failures >= self.policy.max_tries:
            raise FatalAPIError(
                f"{self.source}: reading the body failed {failures} times in a row ({detail}). {self.give_up_hint}"
            ) from None
        wait = self.policy.wait_for(error, failures)
        resumes = "resuming after the last row read" if self.resume else "reading it again from the start"
        self.logger.warning("%s: reading the body failed (%s); %s in %.1f s (try %d of %d)", self.source, detail,
                            resumes, wait, failures + 1, self.policy.max_tries)
        time.sleep(wait)
        return failures


@contextlib.contextmanager
def presigned_file_rows(
    stream: KitRESTStream[t.Any], url: str, source: str, *, csv_options: CSVOptions = DEFAULT_CSV
) -> Iterator[Iterator[Numbered]]:
    """Open a presigned file (one try: `ResumableRows` retries) and read its rows, whatever its format.

    No credentials are sent: the URL carries its own signature, and S3 refuses a second mechanism.
    A 403 is an expired URL (`ExpiredURLError`).
    """
    response = stream.send("GET", url, authenticate=False, stream=True, tolerated=(403,))
    if response is None:
        raise ExpiredURLError(source)
    with contextlib.closing(response):
        yield read_any_records(response_stream(response), source, csv_options=csv_options)


class FilesAhead:
    """The files of one export job, downloaded to temporary files ahead of the parser, a few at a time.

    While file `i` is parsed, files `i+1 .. i+ahead` download on worker threads, each streamed to disk
    in chunks (memory stays flat; disk holds at most `ahead + 1` files). `download(index, sink)` writes
    one file's bytes to `sink` (its own URL, auth and errors: `ExpiredURLError` for an expired URL).
    The first `open(i)` takes the file downloaded ahead; a later `open(i)` (after a parse failure, a
    damaged or cut file) downloads it again, so `ResumableRows` can use `open` as its opener.
    """

    def __init__(self, *, count: int, download: Callable[[int, t.BinaryIO], None], ahead: int, name: str) -> None:
        self.count = count
        self._download = download
        self._ahead = max(0, ahead)
        self._pool = ThreadPoolExecutor(max_workers=max(1, self._ahead), thread_name_prefix=f"{name}-files")
        self._pending: dict[int, Future[str]] = {}
        self._directory = tempfile.TemporaryDirectory(prefix=f"{name}-", ignore_cleanup_errors=True)

    def __enter__(self) -> FilesAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the downloads ahead and delete every temporary file."""
        # Without waiting: a download still in flight (the sync failed, or a SIGTERM stops it) is not
        # wanted, and its file goes with the directory.
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pending.clear()
        self._directory.cleanup()

    @contextlib.contextmanager
    def open(self, index: int) -> Iterator[t.BinaryIO]:
        """File `index` as a binary file on disk (waiting for its download), deleted once read."""
        future = self._pending.pop(index, None) or self._submit(index)
        for following in range(index + 1, min(self.count, index + 1 + self._ahead)):
            if following not in self._pending:
                self._pending[following] = self._submit(following)
        path = future.result()
        try:
            with open(path, "rb") as file:
                yield file
        finally:
            os.unlink(path)

    def _submit(self, index: int) -> Future[str]:
        return self._pool.submit(self._fetch, index)

    def _fetch(self, index: int) -> str:
        sink = tempfile.NamedTemporaryFile(dir=self._directory.name, suffix=f".{index}", delete=False)  # noqa: SIM115
        try:
            with sink:
                self._download(index, t.cast("t.BinaryIO", sink))
        except BaseException:
            os.unlink(sink.name)
            raise
        return sink.name


def copy_body(response: requests.Response, sink: t.BinaryIO, chunk_bytes: int = 1 << 20) -> None:
    """Stream a response's raw bytes (content encodings undone, gzip files kept) into `sink`."""
    with contextlib.closing(response):
        for chunk in response.raw.stream(chunk_bytes, decode_content=True):
            sink.write(chunk)
