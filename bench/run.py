"""`make bench`: every high-volume stream against its ceiling, memory at two sizes, and the loaders.

For each tap's bench module (`bench/bench_<vendor>.py`, with `run(records) -> dict`), at N records
(default 1,000,000) and at 10,000: the ceiling's and the tap's records/s and their ratio, the tap's peak
RSS at both sizes, and the HTTP requests made. Then, for the streams listed in `LOADS`, the tap through
`meltano run` into target-duckdb, and into target-postgres with RECORD and with BATCH messages.
Figures are printed and written to bench/results/; nothing is asserted (machines are noisy).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BIN, REPO, Sandbox, write_json
from tests.postgres import start_postgres

MODULES = ["bench_evergage", "bench_sitecore_cdp", "bench_cordial", "bench_bloomreach"]

# vendor -> (meltano extractor, selection, emulator settings for N records)
LOADS: dict[str, tuple[str, str, t.Callable[[int], dict[str, t.Any]]]] = {
    "evergage": ("tap-evergage", "users.*", lambda n: {"duplicates": []}),
    "sitecore-cdp": ("tap-sitecore-cdp", "audience_export_records.*", lambda n: {
        "exports": [{"friendly_id": "weekly-vip-export", "format": "jsonl", "definition_type": "FULL_SYNC",
                     "jobs": 1}],
    }),
    "bloomreach": ("tap-bloomreach", "customers.*", lambda n: {}),
}


def stream_figures(records: int, small: int, vendors: list[str] | None) -> list[dict[str, t.Any]]:
    rows = []
    for name in MODULES:
        vendor = name.removeprefix("bench_").replace("_", "-")
        if vendors and vendor not in vendors:
            continue
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            continue
        print(f"... {name}: {small:,} and {records:,} records", flush=True)
        at_small = module.run(small)
        at_large = module.run(records)
        results = at_large if isinstance(at_large, list) else [at_large]
        smalls = at_small if isinstance(at_small, list) else [at_small]
        for large_row, small_row in zip(results, smalls, strict=False):
            row = dict(large_row)
            row["rss_mb_small"] = small_row.get("tap_peak_rss_mb")
            row["records_small"] = small_row.get("records")
            rows.append(row)
    return rows


def load_figures(records: int, vendors: list[str] | None) -> list[dict[str, t.Any]]:
    rows = []
    postgres = start_postgres()
    try:
        for vendor, (tap, selection, settings) in LOADS.items():
            if vendors and vendor not in vendors:
                continue
            with Sandbox(vendor, scale=records, settings=settings(records)) as sandbox, \
                    tempfile.TemporaryDirectory() as tmp:
                prefix = tap.upper().replace("-", "_")
                base = {
                    f"{prefix}_API_URL": sandbox.base_url,
                    f"{prefix}_AUTH_URL": f"{sandbox.base_url}/oauth/token",
                    f"{prefix}_AUDIENCE_EXPORTS": json.dumps(["weekly-vip-export"]),
                    f"{prefix}__SELECT": json.dumps([selection]),
                    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                }
                batch = {
                    f"{prefix}_BATCH_CONFIG": json.dumps({
                        "encoding": {"format": "jsonl", "compression": "gzip"},
                        "storage": {"root": f"file://{tmp}", "prefix": "bench-"},
                    }),
                }
                runs = {
                    "target-duckdb": ("target-duckdb", {"TARGET_DUCKDB_FILEPATH": f"{tmp}/bench.duckdb"}),
                    "target-postgres RECORD": ("target-postgres", {
                        **postgres.target_env(), "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "bench_record"}),
                    "target-postgres BATCH": ("target-postgres", {
                        **postgres.target_env(), "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "bench_batch", **batch}),
                }
                for label, (loader, env) in runs.items():
                    print(f"... meltano run {tap} {label}: {records:,} records", flush=True)
                    started = time.perf_counter()
                    done = subprocess.run(
                        [str(BIN / "meltano"), "run", tap, loader], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, **base, **env, "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/{loader}.db"},
                        check=False,
                    )
                    seconds = time.perf_counter() - started
                    rows.append({
                        "stream": f"{vendor} {selection.split('.')[0]}", "loader": label, "records": records,
                        "seconds": round(seconds, 1), "records_per_s": round(records / seconds),
                        "ok": done.returncode == 0,
                    })
                    if done.returncode:
                        print(done.stderr[-2000:])
    finally:
        postgres.stop()
    return rows


def print_tables(streams: list[dict[str, t.Any]], loads: list[dict[str, t.Any]]) -> None:
    print()
    header = (f"{'stream':<34} {'records':>10} {'ceiling r/s':>12} {'tap r/s':>10} {'tap/ceil':>8} "
              f"{'RSS small':>10} {'RSS N':>8} {'delta MB':>8} {'HTTP req':>9}")
    print(header)
    print("-" * len(header))
    for row in streams:
        small, big = row.get("rss_mb_small"), row.get("tap_peak_rss_mb")
        delta = f"{big - small:.1f}" if isinstance(small, int | float) and isinstance(big, int | float) else "-"
        print(
            f"{row.get('stream', '?'):<34} {row.get('records', 0):>10,} {row.get('ceiling_records_per_s', '-'):>12} "
            f"{row.get('tap_records_per_s', '-'):>10} {row.get('tap_to_ceiling', '-'):>8} "
            f"{small if small is not None else '-':>10} {big if big is not None else '-':>8} {delta:>8} "
            f"{row.get('http_requests', '-'):>9}"
        )
    if loads:
        print()
        print(f"{'stream':<24} {'loader':<26} {'records':>10} {'seconds':>8} {'records/s':>10} ok")
        for row in loads:
            print(f"{row['stream']:<24} {row['loader']:<26} {row['records']:>10,} {row['seconds']:>8} "
                  f"{row['records_per_s']:>10} {row['ok']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--vendor", action="append", help="only this vendor (repeatable)")
    parser.add_argument("--skip-loads", action="store_true", help="skip the meltano runs into the loaders")
    parser.add_argument("--load-records", type=int, default=100_000,
                        help="records for the loader runs (the loaders, not the taps, bound these)")
    args = parser.parse_args()
    streams = stream_figures(args.records, args.small, args.vendor)
    loads = [] if args.skip_loads else load_figures(args.load_records, args.vendor)
    print_tables(streams, loads)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    path = REPO / "bench" / "results" / f"bench-{stamp}.json"
    write_json(path, {"records": args.records, "small": args.small, "streams": streams, "loads": loads})
    print(f"\nwritten to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
