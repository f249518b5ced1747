"""tap-cordial throughput and memory: a contact export (sync_mode export) and audience trends, through the
real tap CLI reading the emulator's files from the local S3 server.

    uv run python bench/bench_cordial.py                # 10,000 then 1,000,000 contacts
    uv run python bench/bench_cordial.py 10000 200000   # other sizes

Prints, per size: records, seconds, records/s and the tap process's peak RSS (the emulator and the S3
server run in this process, not in the tap's). The tap's stdout goes to /dev/null. Nothing is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.cordial.support import CordialSandbox  # noqa: E402
from tests.support import VENV_BIN, start_emulator  # noqa: E402

STREAMS = ("contacts", "audience_trends")


def _catalog(config_path: str) -> dict:
    done = subprocess.run([str(VENV_BIN / "tap-cordial"), "--config", config_path, "--discover"],
                          capture_output=True, text=True, check=True)
    catalog = json.loads(done.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return catalog


def _count_records(log_path: Path) -> dict[str, int]:
    """Records per stream, from the SDK's record_count metrics in the tap's log."""
    counts: dict[str, int] = {}
    for line in log_path.read_text().splitlines():
        if '"metric":"record_count"' in line:
            metric = json.loads(line.split("METRIC: ", 1)[1])
            stream = metric["tags"]["stream"]
            counts[stream] = counts.get(stream, 0) + int(metric["value"])
    return counts


def run(records: int) -> dict:
    """Export `records` contacts (and 30 days of 2 audiences' trends) through the tap; return the figures."""
    box = CordialSandbox(start_emulator("cordial", scale=100, contacts=records, job_schedule_seconds=0.1,
                                        job_seconds=0.5))
    try:
        config = box.config(sync_mode="export", export_destination=box.s3_destination("bench"),
                            audiences=["vip-customers", "engaged-30d"], job_poll_interval=0.5)
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp, "config.json")
            config_path.write_text(json.dumps(config))
            catalog_path = Path(tmp, "catalog.json")
            catalog_path.write_text(json.dumps(_catalog(str(config_path))))
            log_path = Path(tmp, "tap.log")
            started = time.monotonic()
            with open(os.devnull, "wb") as devnull, log_path.open("wb") as log:
                process = subprocess.Popen(
                    [str(VENV_BIN / "tap-cordial"), "--config", str(config_path), "--catalog", str(catalog_path)],
                    stdout=devnull, stderr=log,
                )
                _, status, usage = os.wait4(process.pid, 0)
            seconds = time.monotonic() - started
            if status != 0:
                raise SystemExit(f"tap-cordial failed:\n{log_path.read_text()[-3000:]}")
            counts = _count_records(log_path)
        total = sum(counts.values())
        return {
            "stream": "cordial contacts export + audience_trends",
            "contacts_requested": records,
            "records": total,
            "records_by_stream": counts,
            "seconds": round(seconds, 1),
            "tap_records_per_s": round(total / seconds),
            "tap_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
    finally:
        box.server.stop()


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 1_000_000]
    print(f"{'contacts':>10} {'records':>10} {'seconds':>8} {'records/s':>10} {'peak RSS MB':>12}")
    for size in sizes:
        figures = run(size)
        print(f"{size:>10,} {figures['records']:>10,} {figures['seconds']:>8} {figures['tap_records_per_s']:>10,} "
              f"{figures['tap_peak_rss_mb']:>12}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
