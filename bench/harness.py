"""Measuring taps: the emulator in its own process, the tap as a real process, figures from the kernel.

- `Sandbox`: `python -m sandbox up --vendor X --port 0` in a separate process (so the emulator does not
  share a CPU or the GIL with what is measured), with its request counter.
- `measure(cmd)`: runs a command with stdout to /dev/null and returns wall seconds, peak RSS (from
  `wait4`'s rusage of that very process) and the records the tap reported in its `record_count` metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Sandbox:
    """One vendor emulator in a child process; a context manager."""

    def __init__(self, vendor: str, *, scale: int, settings: dict[str, t.Any] | None = None) -> None:
        args = [sys.executable, "-m", "sandbox", "up", "--vendor", vendor, "--port", "0", "--scale", str(scale)]
        if settings:
            args += ["--setting", json.dumps(settings)]
        self.process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {vendor} emulator did not start")
        self.base_url = line.split()[1]

    def requests_served(self) -> int:
        return int(requests.get(f"{self.base_url}/_sandbox/requests", timeout=10).json()["total"])

    def reset_counts(self) -> None:
        requests.post(f"{self.base_url}/_sandbox/reset", timeout=10).raise_for_status()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Measurement:
    seconds: float
    peak_rss_mb: float
    records: int
    returncode: int
    stderr_tail: str

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def measure(cmd: list[str], *, env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` with stdout to /dev/null; peak RSS of that process, records from its metrics on stderr."""
    with tempfile.TemporaryFile(mode="w+") as stderr, open(os.devnull, "wb") as devnull:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=devnull, stderr=stderr, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        text = stderr.read()
    return Measurement(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports kilobytes
        records=records_reported(text),
        returncode=process.returncode,
        stderr_tail=text[-3000:],
    )


def records_reported(stderr: str) -> int:
    """The sum of the SDK's `record_count` metrics (or a ceiling script's `records=N` line)."""
    total = 0
    for line in stderr.splitlines():
        if '"metric":"record_count"' in line or '"metric": "record_count"' in line:
            payload = json.loads(line[line.index("{") :])
            total += int(payload["value"])
        elif line.startswith("records="):
            total += int(line.split("=", 1)[1])
    return total


def write_json(path: Path, value: t.Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def tap_command(
    executable: str, config: dict[str, t.Any], catalog: dict[str, t.Any] | None, workdir: Path
) -> list[str]:
    """`tap-x --config ... [--catalog ...]` with the files written to `workdir`."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    cmd = [str(BIN / executable), "--config", str(config_path)]
    if catalog is not None:
        catalog_path = workdir / "catalog.json"
        catalog_path.write_text(json.dumps(catalog))
        cmd += ["--catalog", str(catalog_path)]
    return cmd


def discover_catalog(executable: str, config: dict[str, t.Any], workdir: Path, *streams: str) -> dict[str, t.Any]:
    """Discover, and select exactly `streams`."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    done = subprocess.run(
        [str(BIN / executable), "--config", str(config_path), "--discover"],
        capture_output=True, text=True, check=True,
    )
    catalog = t.cast("dict[str, t.Any]", json.loads(done.stdout))
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def compare(stream: str, tap: Measurement, ceiling: Measurement, http_requests: int) -> dict[str, t.Any]:
    """The figures `bench/run.py` prints for one stream; raises if either run failed."""
    if tap.returncode or ceiling.returncode:
        raise RuntimeError(f"{stream}: a run failed:\n{tap.stderr_tail}\n{ceiling.stderr_tail}")
    return {
        "stream": stream,
        "records": tap.records,
        "ceiling_records_per_s": round(ceiling.records_per_second),
        "tap_records_per_s": round(tap.records_per_second),
        "tap_to_ceiling": round(tap.records_per_second / ceiling.records_per_second, 3),
        "tap_seconds": round(tap.seconds, 1),
        "tap_peak_rss_mb": round(tap.peak_rss_mb, 1),
        "ceiling_peak_rss_mb": round(ceiling.peak_rss_mb, 1),
        "http_requests": http_requests,
    }
