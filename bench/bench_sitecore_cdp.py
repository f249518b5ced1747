"""Sitecore CDP `audience_export_records`: one export job of N rows through the real tap CLI.

`python bench/bench_sitecore_cdp.py [ROWS ...]` (default: 10,000 and 1,000,000) prints, per size, the
tap's records/s and peak RSS (stdout to /dev/null, RSS from `wait4` of the tap process), next to a
ceiling: the least work Python can do on the same bytes (stream, gunzip, decode each JSON line, write a
RECORD line with msgspec). Flat memory shows as the same peak RSS at both sizes. `run(records)` returns
the figures as a dict. The export is gzip JSON Lines in files of at most 500,000 rows, as Sitecore
writes them (spec sitecore-cdp.md §4).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import requests

from bench.harness import Sandbox, compare, discover_catalog, measure, tap_command

EXPORT = "bench-export"
CLIENT = {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret-7d1e"}


def run(records: int) -> dict[str, object]:
    settings = {"exports": [{"friendly_id": EXPORT, "format": "jsonl", "jobs": 1}], "max_rows_per_file": 500_000}
    with Sandbox("sitecore-cdp", scale=records, settings=settings) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        config = {"api_url": sandbox.base_url, "auth_url": f"{sandbox.base_url}/oauth/token", **CLIENT,
                  "audience_exports": [EXPORT]}
        catalog = discover_catalog("tap-sitecore-cdp", config, Path(tmp), "audience_export_records")
        ceiling = measure([sys.executable, __file__, "--ceiling", sandbox.base_url])
        sandbox.reset_counts()
        tap = measure(tap_command("tap-sitecore-cdp", config, catalog, Path(tmp)))
        requests_made = sandbox.requests_served()
    figures = compare("sitecore-cdp audience_export_records (gzip JSON Lines)", tap, ceiling, requests_made)
    if tap.records != records:
        raise RuntimeError(f"the tap reported {tap.records} records, expected {records}")
    return figures


def ceiling(base_url: str) -> int:
    """Token, job list, file listing, then every file streamed and gunzipped, one RECORD line per row."""
    session = requests.Session()
    token = session.post(f"{base_url}/oauth/token", timeout=60, data={
        "grant_type": "client_credentials", **CLIENT, "audience": "https://api.sitecorecloud.io",
    }).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    jobs = session.get(f"{base_url}/v2/audienceExports/definitions/{EXPORT}/reports", headers=headers,
                       timeout=60).json()
    encode, decode = msgspec.json.Encoder().encode, msgspec.json.Decoder().decode
    out = sys.stdout.buffer
    count = 0
    for job in jobs:
        listing = session.get(f"{base_url}/v2/audienceExports/executions/{job['executionRef']}/export",
                              headers=headers, timeout=60).json()
        for entry in listing["exports"]:
            with requests.get(entry["url"], stream=True, timeout=60) as response:
                inflate = zlib.decompressobj(31)
                text = io.BytesIO()
                for chunk in response.iter_content(1 << 20):
                    text.write(inflate.decompress(chunk))
                    *lines, rest = text.getvalue().split(b"\n")
                    for line in lines:
                        out.write(encode({"type": "RECORD", "stream": "audience_export_records",
                                          "record": {"data": decode(line)}}) + b"\n")
                        count += 1
                    text = io.BytesIO(rest)
                    text.seek(0, io.SEEK_END)
    out.flush()
    return count


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ceiling"]:
        print(f"records={ceiling(sys.argv[2])}", file=sys.stderr)
    else:
        for size in [int(a) for a in sys.argv[1:]] or [10_000, 1_000_000]:
            print(json.dumps(run(size), indent=2), flush=True)
