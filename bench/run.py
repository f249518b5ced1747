"""`make bench`: every high-volume stream against its ceiling, memory at two sizes, the loaders, latency.

For each tap's bench module (`bench/bench_<vendor>.py`, with `run(records) -> dict`), at N records
(default 1,000,000) and at 10,000: the ceiling's and the tap's records/s and their ratio, the tap's peak
RSS at both sizes, and the HTTP requests made. Then the loaders, through `meltano run` into a fresh
warehouse each time: for each stream in `LOADS`, the shipped configurations (meltano.yml's target-duckdb,
target-postgres with RECORD and with BATCH messages); then, on the first stream, every candidate in
`CONFIGURATIONS`. Each run is checked for exactness (rows and distinct primary keys in the warehouse both
equal what the emulator served) and the fastest exact candidate of each loader is marked. Last, the
latency table of bench/bench_latency.py. `--quick` measures fewer configurations (see bench/README.md).
Figures are printed and written to bench/results/; nothing is asserted (machines are noisy).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_latency
from bench.harness import REPO, Sandbox, write_json
from sandbox.sitecore_cdp import SitecoreCDPEmulator
from tests.e2e.warehouses import DuckDBWarehouse, JsonlWarehouse, PostgresWarehouse, Warehouse
from tests.postgres import PostgresServer, start_postgres
from tests.profiles import PROFILES, TapProfile
from tests.sitecore_cdp.helpers import expected_keys as sitecore_expected_keys
from tests.support import meltano

MODULES = ["bench_evergage", "bench_sitecore_cdp", "bench_cordial", "bench_bloomreach"]

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


@dataclass(frozen=True)
class LoadStream:
    """A high-volume stream loaded through `meltano run`: what its emulator serves, and the rows it must land."""

    vendor: str
    stream: str
    #: Emulator settings for N records (besides `scale`).
    settings: t.Callable[[int], dict[str, t.Any]]
    #: Rows by primary key the emulator serves with the given settings (`scale` included).
    expected_rows: t.Callable[[dict[str, t.Any]], int]
    #: Extractor settings besides the emulator's URL (Meltano environment variables).
    tap_env: dict[str, str] = field(default_factory=dict)

    @property
    def profile(self) -> TapProfile:
        return PROFILES[self.vendor]

    @property
    def label(self) -> str:
        return f"{self.vendor} {self.stream}"


SITECORE_EXPORT = "weekly-vip-export"
LATENCY_SECONDS = 0.1  # bench/bench_latency.py's default: a vendor's API across the internet

LOADS: dict[str, LoadStream] = {
    "evergage": LoadStream(
        "evergage", "users", lambda n: {"duplicates": []},
        lambda settings: PROFILES["evergage"].expected_rows(settings)["users"],
    ),
    "sitecore-cdp": LoadStream(
        "sitecore-cdp", "audience_export_records",
        lambda n: {"exports": [{"friendly_id": SITECORE_EXPORT, "format": "jsonl", "definition_type": "FULL_SYNC",
                                "jobs": 1}]},
        lambda settings: len(sitecore_expected_keys(SitecoreCDPEmulator(**settings), SITECORE_EXPORT)),
        tap_env={"TAP_SITECORE_CDP_AUDIENCE_EXPORTS": json.dumps([SITECORE_EXPORT])},
    ),
    "bloomreach": LoadStream(
        "bloomreach", "customers", lambda n: {},
        lambda settings: PROFILES["bloomreach"].expected_rows(settings)["customers"],
    ),
}


@dataclass(frozen=True)
class LoaderConfig:
    """One configuration of a loader: its settings (all the ones compared, so meltano.yml does not leak in)."""

    loader: str
    name: str
    settings: dict[str, t.Any] = field(default_factory=dict)
    #: The tap writes gzip JSONL files and BATCH messages (its `batch_config`) instead of RECORD messages;
    #: `batch_size` records per file.
    batch_size: int | None = None
    #: Also measured by `--quick`.
    quick: bool = False

    @property
    def label(self) -> str:
        return f"{self.loader} {self.name}"


DUCKDB = {"batch_size_rows": 100_000, "add_metadata_columns": True, "validate_records": False}
POSTGRES = {"use_copy": False, "validate_records": True, "batch_size_rows": 10_000, "add_record_metadata": True,
            "activate_version": True, "hard_delete": False}
FAST_POSTGRES = {**POSTGRES, "use_copy": True, "validate_records": False}

#: The shipped configuration of each loader (meltano.yml's), as a row per high-volume stream.
SHIPPED: tuple[LoaderConfig, ...] = (
    LoaderConfig("target-duckdb", "(meltano.yml)"),
    LoaderConfig("target-postgres", "(meltano.yml) RECORD"),
    LoaderConfig("target-postgres", "(meltano.yml) BATCH", batch_size=10_000),
)

#: Every candidate configuration, measured on the first of LOADS (the loaders, not the taps, bound these).
CONFIGURATIONS: tuple[LoaderConfig, ...] = (
    LoaderConfig("target-jsonl", "defaults (the floor)", quick=True),
    LoaderConfig("target-duckdb", "batch_size_rows=100000 (its default)", DUCKDB, quick=True),
    LoaderConfig("target-duckdb", "batch_size_rows=10000", {**DUCKDB, "batch_size_rows": 10_000}),
    LoaderConfig("target-duckdb", "batch_size_rows=1000000", {**DUCKDB, "batch_size_rows": 1_000_000}),
    LoaderConfig("target-duckdb", "add_metadata_columns=false", {**DUCKDB, "add_metadata_columns": False}),
    LoaderConfig("target-duckdb", "validate_records=true", {**DUCKDB, "validate_records": True}),
    LoaderConfig("target-postgres", "RECORD defaults", POSTGRES),
    LoaderConfig("target-postgres", "RECORD use_copy", {**POSTGRES, "use_copy": True}),
    LoaderConfig("target-postgres", "RECORD use_copy validate_records=false", FAST_POSTGRES, quick=True),
    LoaderConfig("target-postgres", "RECORD use_copy no-validate batch_size_rows=100000",
                 {**FAST_POSTGRES, "batch_size_rows": 100_000}),
    LoaderConfig("target-postgres", "RECORD add_record_metadata=false",
                 {**POSTGRES, "add_record_metadata": False, "activate_version": False}),
    LoaderConfig("target-postgres", "RECORD hard_delete=true", {**POSTGRES, "hard_delete": True}),
    LoaderConfig("target-postgres", "BATCH defaults", POSTGRES, batch_size=10_000),
    LoaderConfig("target-postgres", "BATCH use_copy", {**POSTGRES, "use_copy": True}, batch_size=10_000, quick=True),
    LoaderConfig("target-postgres", "BATCH use_copy files of 100000", {**POSTGRES, "use_copy": True},
                 batch_size=100_000),
)


def load_figures(
    records: int, vendors: list[str] | None, *, quick: bool = False, only: list[str] | None = None, repeat: int = 1
) -> list[dict[str, t.Any]]:
    """The shipped loaders on each stream of LOADS, then every configuration on the first; each run checked.

    `quick`: only the candidates marked `quick` (the floor, and the fastest of each loader and message type).

    `only`: the configurations whose label contains one of these words. `repeat`: runs of each, the fastest
    kept (a shared machine's noise only slows runs down); exact only if every run was.
    """
    chosen = [load for vendor, load in LOADS.items() if not vendors or vendor in vendors]
    configurations = [c for c in CONFIGURATIONS if c.quick or not quick]
    runs = [] if quick else [(load, config, "shipped") for load in chosen for config in SHIPPED]
    runs += [(chosen[0], config, "candidate") for config in configurations] if chosen else []
    runs = [run for run in runs if not only or any(word in run[1].label for word in only)]
    rows = []
    postgres = start_postgres()
    try:
        for number, (load, config, kind) in enumerate(runs):
            print(f"... meltano run {load.profile.tap} {config.label}: {records:,} {load.stream}", flush=True)
            tries = [load_once(load, config, records, postgres, f"bench_{number}_{n}") for n in range(repeat)]
            fastest = min(tries, key=lambda row: row["seconds"])
            rows.append({**fastest, "exact": all(row["exact"] for row in tries), "runs": repeat, "kind": kind})
    finally:
        postgres.stop()
    mark_fastest(rows)
    return rows


def load_once(
    load: LoadStream, config: LoaderConfig, records: int, postgres: PostgresServer, schema: str
) -> dict[str, t.Any]:
    """One `meltano run` of `load` into `config`, in a fresh warehouse, and whether it landed every row once."""
    settings = {"scale": records, **load.settings(records)}
    profile = load.profile
    with Sandbox(load.vendor, scale=records, settings=load.settings(records)) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        warehouse: Warehouse
        if config.loader == "target-duckdb":
            warehouse = DuckDBWarehouse(Path(tmp) / "bench.duckdb")
        elif config.loader == "target-postgres":
            warehouse = PostgresWarehouse(postgres)
        else:
            warehouse = JsonlWarehouse(Path(tmp) / "jsonl")
        prefix = profile.tap.upper().replace("-", "_")
        env = {
            f"{prefix}_API_URL": sandbox.base_url, f"{prefix}_AUTH_URL": f"{sandbox.base_url}/oauth/token",
            **load.tap_env, **warehouse.env(), **loader_env(config),
            f"{prefix}__SELECT": json.dumps([f"{load.stream}.*"]),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/meltano.db",  # no state: every run reads everything
        }
        if config.loader == "target-postgres":
            env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"] = schema
        if config.batch_size:
            env[f"{prefix}_BATCH_CONFIG"] = json.dumps(batch_config(Path(tmp) / "batches", config.batch_size))
        started = time.perf_counter()
        run = meltano("run", profile.tap, config.loader, env=env)
        seconds = time.perf_counter() - started
        table_schema = schema if config.loader == "target-postgres" else profile.schema
        expected = load.expected_rows(settings)
        exact = run.returncode == 0 and landed_exactly(
            warehouse, table_schema, load.stream, profile.table_keys[load.stream], expected
        )
    if run.returncode:
        print(run.stderr[-3000:])
    return {
        "stream": load.label, "loader": config.loader, "configuration": config.name, "records": expected,
        "seconds": round(seconds, 1), "records_per_s": round(expected / seconds), "ok": run.returncode == 0,
        "exact": exact,
    }


def loader_env(config: LoaderConfig) -> dict[str, str]:
    """The configuration's settings as Meltano environment variables (`TARGET_X_SETTING`)."""
    prefix = config.loader.upper().replace("-", "_")
    return {f"{prefix}_{name.upper()}": json.dumps(value) for name, value in config.settings.items()}


def batch_config(directory: Path, batch_size: int) -> dict[str, t.Any]:
    return {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{directory}", "prefix": "bench-"},
        "batch_size": batch_size,
    }


def landed_exactly(warehouse: Warehouse, schema: str, table: str, keys: t.Sequence[str], expected: int) -> bool:
    """Every row the emulator served, each key once: counted rows and distinct keys both equal `expected`."""
    try:
        return warehouse.count(schema, table) == expected == warehouse.distinct_keys(schema, table, keys)
    except Exception as error:  # noqa: BLE001 - a missing table is a run that landed nothing
        print(f"    cannot count {schema}.{table}: {error}")
        return False


def mark_fastest(rows: list[dict[str, t.Any]]) -> None:
    """`fastest` on the exact candidate with the most records/s, per loader."""
    for row in rows:
        row["fastest"] = False
    for loader in {row["loader"] for row in rows}:
        exact = [r for r in rows if r["kind"] == "candidate" and r["loader"] == loader and r["exact"]]
        if exact:
            max(exact, key=lambda r: r["records_per_s"])["fastest"] = True


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
        print("* the fastest exact configuration of its loader; exact: rows by primary key equal the emulator's")
        header = (f"{'stream':<30} {'loader':<16} {'configuration':<50} {'records':>8} {'seconds':>8} "
                  f"{'records/s':>9} exact")
        print(header)
        print("-" * len(header))
        for row in loads:
            mark = " *" if row["fastest"] else ""
            print(f"{row['stream']:<30} {row['loader']:<16} {row['configuration']:<50} {row['records']:>8,} "
                  f"{row['seconds']:>8} {row['records_per_s']:>9,} {row['exact']}{mark}")


def latency_figures(records: int, vendors: list[str] | None, *, quick: bool) -> list[dict[str, t.Any]]:
    """bench/bench_latency.py's table (with `--quick`, its page-fetched streams only)."""
    cases = [c for c in bench_latency.CASES if (not vendors or c.vendor in vendors)
             and (not quick or c.fetched_by == "pages")]
    rows = []
    for case in cases:
        print(f"... latency {case.name}: {records:,} records", flush=True)
        rows += bench_latency.run_case(case, records, LATENCY_SECONDS)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--vendor", action="append", help="only this vendor (repeatable)")
    parser.add_argument("--load-records", type=int, default=30_000,
                        help="records for the loader runs (the loaders, not the taps, bound these)")
    parser.add_argument("--latency-records", type=int, default=100_000, help="records for the latency table")
    parser.add_argument("--quick", action="store_true",
                        help="fewer configurations: the loaders' `quick` ones, the page-fetched latency streams")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each loader configuration; the fastest is kept, exact only if all were")
    parser.add_argument("--configuration", action="append",
                        help="only the loader configurations whose label contains this (repeatable)")
    for part in ("streams", "loads", "latency"):
        parser.add_argument(f"--skip-{part}", action="store_true", help=f"leave out the {part} table")
    args = parser.parse_args()
    started = time.perf_counter()
    streams = [] if args.skip_streams else stream_figures(args.records, args.small, args.vendor)
    loads = [] if args.skip_loads else load_figures(
        args.load_records, args.vendor, quick=args.quick, only=args.configuration, repeat=args.repeat)
    latency = [] if args.skip_latency else latency_figures(args.latency_records, args.vendor, quick=args.quick)
    print_tables(streams, loads)
    if latency:
        print(f"\nbehind {LATENCY_SECONDS * 1000:.0f} ms of latency per request:")
        bench_latency.print_table(latency)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    path = REPO / "bench" / "results" / f"bench-{stamp}.json"
    write_json(path, {"records": args.records, "small": args.small, "load_records": args.load_records,
                      "quick": args.quick, "streams": streams, "loads": loads, "latency": latency})
    print(f"\nwritten to {path.relative_to(REPO)} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
