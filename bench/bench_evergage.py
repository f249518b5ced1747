"""Evergage `users`: the tap against the ceiling on the same emulator, at a given number of users.

`python bench/bench_evergage.py [USERS]` prints records/s of the ceiling and of the tap, their ratio,
the tap's peak RSS and the number of HTTP requests; `run(records)` returns the same as a dict.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Sandbox, compare, discover_catalog, measure, tap_command

PAGE_SIZE = 1000  # the tap's default; the vendor documents no maximum


def run(records: int) -> dict[str, object]:
    with Sandbox("evergage", scale=records, settings={"duplicates": []}) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        config = {
            "api_url": sandbox.base_url, "api_key_id": "sandbox-api-key-id",
            "api_secret_key": "sandbox-api-secret-key-0f6c2b", "datasets": ["engage"], "page_size": PAGE_SIZE,
        }
        catalog = discover_catalog("tap-evergage", config, Path(tmp), "users")
        ceiling = measure([sys.executable, "-m", "bench.ceilings", "evergage_users", sandbox.base_url, str(PAGE_SIZE)])
        sandbox.reset_counts()
        tap = measure(tap_command("tap-evergage", config, catalog, Path(tmp)))
        requests_made = sandbox.requests_served()
    return compare("evergage users", tap, ceiling, requests_made)


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
