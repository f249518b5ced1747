"""Cordial `contacts` in export mode (`sync_mode: export`): the tap against the ceiling, same emulator.

Both create the same export job, wait for it, and read its gzip JSON file from the emulator's S3
server (the tap through fsspec/s3fs, the ceiling through boto3), so the job's wait is in both figures.

    uv run python bench/bench_cordial.py [CONTACTS]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Sandbox, compare, discover_catalog, measure, tap_command

POLL_MS = 500
API_KEY = "sandbox-cordial-api-key-3c8f"


def run(records: int) -> dict[str, object]:
    settings = {"contacts": records, "job_schedule_seconds": 0.1, "job_seconds": 0.5}
    with Sandbox("cordial", scale=100, settings=settings) as sandbox, tempfile.TemporaryDirectory() as tmp:
        s3 = requests.get(f"{sandbox.base_url}/_sandbox/settings", timeout=30).json()["s3_endpoint_url"]
        config = {
            "api_url": sandbox.base_url, "api_key": API_KEY, "sync_mode": "export", "job_poll_interval": POLL_MS / 1000,
            "export_destination": {
                "type": "s3", "bucket": "cordial-exports", "region": "us-east-1", "path": "bench",
                "aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret", "endpoint_url": s3,
            },
        }
        catalog = discover_catalog("tap-cordial", config, Path(tmp), "contacts")
        ceiling = measure([sys.executable, "-m", "bench.ceilings", "cordial_contacts_export", sandbox.base_url,
                           str(POLL_MS)])
        sandbox.reset_counts()
        tap = measure(tap_command("tap-cordial", config, catalog, Path(tmp)))
        requests_made = sandbox.requests_served()
    return compare("cordial contacts (export mode)", tap, ceiling, requests_made)


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
