"""Reading an export file across a read cut short: the file is downloaded again and the read resumes after
the last row delivered, so no row is lost and none is delivered twice."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import typing as t

import fsspec
import pytest
from marketing_tapkit.downloads import FilesAhead
from singer_sdk.exceptions import FatalAPIError
from tap_cordial.destination import ExportDestination
from tap_cordial.exports import ExportJob
from tap_cordial.tap import TapCordial

from tests.cordial.support import CordialSandbox

ROWS = [{"_id": f"c{i}", "n": i} for i in range(1, 201)]
BODY = gzip.compress(b"".join(json.dumps(row).encode() + b"\n" for row in ROWS))


@dataclasses.dataclass(frozen=True)
class CutShortDestination(ExportDestination):
    """A destination whose first `cuts` openings of a file end at half its size (a transfer cut short)."""

    openings: list[int] = dataclasses.field(default_factory=list)
    cuts: int = 1

    def open_file(self, fs: t.Any, path: str) -> t.BinaryIO:
        self.openings.append(1)
        body = BODY[: len(BODY) // 2] if len(self.openings) <= self.cuts else BODY
        return io.BytesIO(body)


def _job(sandbox: CordialSandbox, destination: ExportDestination) -> ExportJob:
    tap = TapCordial(config=sandbox.config(max_retries=2), validate_config=True)
    return ExportJob(tap.streams["contacts"], destination, poll_interval=0, timeout=1)


def _rows(job: ExportJob, path: str) -> list[dict]:
    """Every row of one export file, read as the job reads its files: downloaded ahead, then parsed."""
    job._fs = fsspec.filesystem("memory")
    with FilesAhead(count=1, download=lambda _, sink: job.download(path, sink), ahead=1, name="test") as files:
        return [row for _, row in job.resumable_rows(files, 0, f"s3://{path}").rows()]


def test_export_file_cut_short_is_opened_again_and_resumed_after_the_last_row(sandbox: CordialSandbox):
    destination = CutShortDestination("s3", "folder", {"bucket": "b", "region": "r"})
    rows = _rows(_job(sandbox, destination), "b/folder/x.json.gz")

    assert rows == ROWS
    assert len(destination.openings) == 2


def test_export_file_that_stays_truncated_fails_naming_the_file(sandbox: CordialSandbox):
    destination = CutShortDestination("s3", "folder", {"bucket": "b", "region": "r"}, cuts=99)
    with pytest.raises(FatalAPIError, match=r"s3://b/folder/x\.json\.gz: reading the body failed 3 times"):
        _rows(_job(sandbox, destination), "b/folder/x.json.gz")
    assert len(destination.openings) == 3  # `max_retries: 2`: three tries in all
