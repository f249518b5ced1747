"""Throughput behind real network latency: each page- or file-fetched stream at 1, 4 and 8 requests in flight.

The emulator's latency fault holds every answer for `--latency` seconds (100 ms by default), as a vendor's
API on the other side of the internet would. For each stream: the tap's seconds and records/s with
`max_concurrent_requests` 1, 4 and 8, each as a ratio to the same stream without latency at the default
concurrency (measured in the same run, first). Page-paged streams should reach 0.8 of it at the default.

    uv run python bench/bench_latency.py [--records 100000] [--latency 0.1] [--streams evergage-users ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Sandbox, discover_catalog, measure, tap_command

CONCURRENCIES = (1, 4, 8)
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class LatencyCase:
    """One stream: its emulator, the tap's config for a base URL, and the stream to select."""

    name: str
    vendor: str
    tap: str
    stream: str
    config: t.Callable[[str], dict[str, t.Any]]
    settings: t.Callable[[int], dict[str, t.Any]] = field(default=lambda n: {})
    #: How the paging goes: `pages` (next token known ahead) or `files` (one export job's files).
    fetched_by: str = "pages"
    #: Scale given to the emulator (some vendors size by a setting instead).
    scale: t.Callable[[int], int] = field(default=lambda n: n)


CASES = (
    LatencyCase(
        "evergage users", "evergage", "tap-evergage", "users",
        lambda url: {"api_url": url, "api_key_id": "sandbox-api-key-id",
                     "api_secret_key": "sandbox-api-secret-key-0f6c2b", "datasets": ["engage"], "page_size": 1000},
        lambda n: {"duplicates": []},
    ),
    LatencyCase(
        "cordial contacts (API)", "cordial", "tap-cordial", "contacts",
        lambda url: {"api_url": url, "api_key": "sandbox-cordial-api-key-3c8f", "page_size": 1000},
        lambda n: {"contacts": n}, scale=lambda n: 100,
    ),
    LatencyCase(
        # Pages ahead within each query of 10,000 (the cap); the next query waits for the last page.
        "cordial orders", "cordial", "tap-cordial", "orders",
        lambda url: {"api_url": url, "api_key": "sandbox-cordial-api-key-3c8f", "page_size": 1000},
        lambda n: {"orders": n}, scale=lambda n: 100,
    ),
    LatencyCase(
        "sitecore guests", "sitecore-cdp", "tap-sitecore-cdp", "guests",
        lambda url: {"api_url": url, "client_key": "sandbox-client-key", "api_token": "sandbox-api-token-5b9a"},
        lambda n: {"guests": n},
    ),
    LatencyCase(
        "sitecore audience_export_records", "sitecore-cdp", "tap-sitecore-cdp", "audience_export_records",
        lambda url: {"api_url": url, "auth_url": f"{url}/oauth/token", "client_id": "sandbox-client-id",
                     "client_secret": "sandbox-client-secret-7d1e", "audience_exports": ["weekly-vip-export"]},
        lambda n: {"exports": [{"friendly_id": "weekly-vip-export", "format": "jsonl", "definition_type": "FULL_SYNC",
                                "jobs": 1}], "max_rows_per_file": max(1, n // 20)},
        fetched_by="files",
    ),
)


def run_case(case: LatencyCase, records: int, latency: float) -> list[dict[str, t.Any]]:
    """The stream without latency (default concurrency), then with latency at each concurrency."""
    rows = []
    with Sandbox(case.vendor, scale=case.scale(records), settings=case.settings(records)) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        config = case.config(sandbox.base_url)
        catalog = discover_catalog(case.tap, config, Path(tmp), case.stream)
        baseline = _measure(case, {**config, "max_concurrent_requests": DEFAULT_CONCURRENCY}, catalog, Path(tmp))
        _latency(sandbox.base_url, latency)
        for concurrency in CONCURRENCIES:
            sandbox.reset_counts()
            _latency(sandbox.base_url, latency)
            figures = _measure(case, {**config, "max_concurrent_requests": concurrency}, catalog, Path(tmp))
            rows.append({
                "stream": case.name, "fetched_by": case.fetched_by, "latency_s": latency,
                "max_concurrent_requests": concurrency, "records": figures["records"],
                "seconds": figures["seconds"], "records_per_s": figures["records_per_s"],
                "http_requests": sandbox.requests_served(),
                "baseline_records_per_s": baseline["records_per_s"],
                "ratio_to_no_latency": round(figures["records_per_s"] / baseline["records_per_s"], 3)
                if baseline["records_per_s"] else None,
            })
    return rows


def _latency(base_url: str, seconds: float) -> None:
    faults = [{"kind": "latency", "seconds": seconds, "times": -1, "path": "^(?!/_sandbox)"}]
    requests.delete(f"{base_url}/_sandbox/faults", timeout=10).raise_for_status()
    requests.post(f"{base_url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()


def _measure(case: LatencyCase, config: dict[str, t.Any], catalog: dict[str, t.Any], tmp: Path) -> dict[str, t.Any]:
    result = measure(tap_command(case.tap, config, catalog, tmp))
    if result.returncode:
        raise RuntimeError(f"{case.name}: the tap failed:\n{result.stderr_tail}")
    return {"records": result.records, "seconds": round(result.seconds, 2),
            "records_per_s": round(result.records_per_second)}


def print_table(rows: list[dict[str, t.Any]]) -> None:
    print("| stream | fetched by | concurrency | records | seconds | records/s | HTTP req | vs no latency |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = (row["stream"], row["fetched_by"], row["max_concurrent_requests"], f"{row['records']:,}",
                 row["seconds"], f"{row['records_per_s']:,}", f"{row['http_requests']:,}", row["ratio_to_no_latency"])
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


def main(argv: list[str] | None = None) -> list[dict[str, t.Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--streams", nargs="*", help="names as in the table, dashed: evergage-users ...")
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.streams or c.name.split(" (")[0].replace(" ", "-") in args.streams]
    rows = [row for case in chosen for row in run_case(case, args.records, args.latency)]
    print_table(rows)
    return rows


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
