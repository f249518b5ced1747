"""Wall time of a tap's parts run side by side, against one process doing all of it.

The Evergage emulator serves four datasets with 100 ms of latency on every request (the sandbox's
`latency` fault), so the work is mostly waiting on the API, as it is against a real vendor. The
baseline is one `meltano run` of `users` over all four datasets. Then the four parts (`users__<dataset>`,
each one `python -m orchestration.meltano_part`: discovery, then its own `meltano run`) run with at
most 1, 2 and 4 at a time, as Dagster's executor would run them with `max_concurrent`. Figures are
ratios to the baseline of the same invocation; nothing is asserted (machines are noisy).

    .venv/bin/python bench/bench_partitions.py [--users 3000] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BIN, REPO, Sandbox, write_json
from orchestration.definitions import run_env
from orchestration.partitions import Part, parts_of

DATASETS = [f"set{i}" for i in range(4)]
LOADER = "target-jsonl"


def timed(commands: list[tuple[list[str], dict[str, str]]], parallel: int) -> float:
    """Seconds to run every command, at most `parallel` at a time; fails if one fails."""

    def run(command: tuple[list[str], dict[str, str]]) -> int:
        args, env = command
        return subprocess.run(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False).returncode

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        codes = list(pool.map(run, commands))
    if any(codes):
        raise SystemExit(f"a run failed (exit codes {codes}); run it by hand to see why")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=3000, help="users per dataset")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds of latency per request")
    args = parser.parse_args()
    datasets = [{"id": f"ds{i}", "name": name} for i, name in enumerate(DATASETS)]
    workdir = Path(tempfile.mkdtemp(prefix="bench-partitions-"))
    with Sandbox("evergage", scale=args.users, settings={"datasets": datasets, "duplicates": []}) as sandbox:
        faults = [{"kind": "latency", "seconds": args.latency, "times": -1}]
        requests.post(f"{sandbox.base_url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()
        os.environ.update({
            "TAP_EVERGAGE_API_URL": sandbox.base_url, "TAP_EVERGAGE_DATASETS": json.dumps(DATASETS),
            "TAP_EVERGAGE_SEGMENTS": "[]", "TAP_EVERGAGE_PAGE_SIZE": str(args.page_size),
            "ORCHESTRATION_MELTANO_DIR": str(workdir / "meltano"),
            "TARGET_JSONL_DESTINATION_PATH": str(workdir / "jsonl"),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "PATH": f"{BIN}:{os.environ['PATH']}",
        })
        baseline_part = Part("tap-evergage", "baseline", ("users.*",))
        baseline_env = {**os.environ, **run_env(baseline_part, LOADER), **baseline_part.env()}
        meltano = [str(BIN / "meltano"), "run", "tap-evergage", LOADER]
        parts = [p for p in parts_of("tap-evergage") if p.name.startswith("users__")]
        commands = [
            ([sys.executable, "-m", "orchestration.meltano_part", p.tap, LOADER, p.name],
             {**os.environ, **run_env(p, LOADER)})
            for p in parts
        ]
        print(f"... {len(DATASETS)} datasets x {args.users:,} users, {args.latency * 1000:.0f} ms per request",
              flush=True)
        sandbox.reset_counts()
        baseline = timed([(meltano, baseline_env)], 1)
        baseline_requests = sandbox.requests_served()
        rows: list[dict[str, t.Any]] = [{"run": "one process, all datasets", "parallel": 1, "seconds": baseline,
                                         "requests": baseline_requests}]
        for parallel in (1, 2, 4):
            sandbox.reset_counts()
            seconds = timed(commands, parallel)
            rows.append({"run": f"{len(parts)} parts", "parallel": parallel, "seconds": seconds,
                         "requests": sandbox.requests_served()})
    print(f"\n  {'run':<28} {'at once':>7} {'wall s':>8} {'ratio':>7} {'requests':>9}")
    for row in rows:
        row["ratio_to_one_process"] = round(row["seconds"] / baseline, 3)
        print(f"  {row['run']:<28} {row['parallel']:>7} {row['seconds']:>8.1f} "
              f"{row['ratio_to_one_process']:>7.2f} {row['requests']:>9}")
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    path = REPO / "bench" / "results" / f"partitions-{stamp}.json"
    write_json(path, {"users_per_dataset": args.users, "latency": args.latency, "runs": rows})
    print(f"\nwritten to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
