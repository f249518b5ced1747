"""tap-bloomreach `customers`: one export of N customers through the real tap CLI, against a ceiling.

    uv run python bench/bench_bloomreach.py                  # 10,000 then 2,000,000 customers
    uv run python bench/bench_bloomreach.py 10000 500000     # other sizes

Per size it prints records, seconds, records/s and the peak RSS of the tap process (the emulator runs
in its own process; the tap's stdout goes to /dev/null), next to a ceiling: the least work Python can
do on the same body (requests, ijson rows, msgspec RECORD lines, nothing else). The export is
table_json, the tap's default. Flat memory shows as the same peak RSS at both sizes. Nothing is asserted.
`run(records)` returns the figures as a dict.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ijson
import msgspec
import requests

from bench.harness import Sandbox, compare, discover_catalog, measure, tap_command

CREDENTIALS = {
    "project_token": "sandbox-project-token",
    "api_key_id": "sandbox-bloomreach-key-id",
    "api_secret": "sandbox-bloomreach-secret-92ab",
}
DEFAULT_SIZES = (10_000, 2_000_000)


def run(records: int) -> dict[str, object]:
    """Export `records` customers through the tap and through the ceiling; the figures."""
    with Sandbox("bloomreach", scale=records) as sandbox, tempfile.TemporaryDirectory() as tmp:
        config = {"api_url": sandbox.base_url, **CREDENTIALS}
        catalog = discover_catalog("tap-bloomreach", config, Path(tmp), "customers")
        ceiling = measure([sys.executable, __file__, "--ceiling", sandbox.base_url])
        sandbox.reset_counts()
        tap = measure(tap_command("tap-bloomreach", config, catalog, Path(tmp)))
        requests_made = sandbox.requests_served()
    return compare("bloomreach customers (table_json)", tap, ceiling, requests_made)


def ceiling(base_url: str) -> int:
    """Stream the export, zip each row with the header, write it as a Singer RECORD line; the count.

    The header comes from a first request cut off after it, so that the rows can go through ijson's C
    item builder in the second, as the tap's do.
    """
    url = f"{base_url}/data/v2/projects/{CREDENTIALS['project_token']}/customers/export"
    auth = (CREDENTIALS["api_key_id"], CREDENTIALS["api_secret"])

    def export() -> requests.Response:
        response = requests.post(url, json={"format": "table_json"}, auth=auth, stream=True, timeout=3600)
        response.raise_for_status()
        response.raw.decode_content = True
        response.raw.auto_close = False
        return response

    with export() as response:
        header = next(ijson.items(response.raw, "header"))
    encode = msgspec.json.Encoder().encode
    out = sys.stdout.buffer
    count = 0
    with export() as response:
        for row in ijson.items(response.raw, "rows.item", use_float=True):
            out.write(encode({"type": "RECORD", "stream": "customers", "record": dict(zip(header, row, strict=True))}))
            out.write(b"\n")
            count += 1
    out.flush()
    return count


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ceiling"]:
        print(f"records={ceiling(sys.argv[2])}", file=sys.stderr)
        sys.exit(0)
    for size in [int(arg) for arg in sys.argv[1:]] or DEFAULT_SIZES:
        print(json.dumps(run(size), indent=2), flush=True)
