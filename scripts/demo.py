"""`make demo`: start the emulators, `meltano run` every tap into DuckDB, print what landed, stop.

The emulators are stopped also when a step fails. Re-running is incremental: Meltano keeps each
pipeline's state, so the second run only brings what is new.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sandbox import available_vendors

REPO = Path(__file__).resolve().parent.parent
WAREHOUSE = REPO / "output" / "warehouse.duckdb"
TAPS = {
    "evergage": "tap-evergage",
    "sitecore-cdp": "tap-sitecore-cdp",
    "cordial": "tap-cordial",
    "bloomreach": "tap-bloomreach",
}


def start_sandbox() -> tuple[subprocess.Popen[str], list[str]]:
    """Start `python -m sandbox up` (fixed ports, as meltano.yml's sandbox environment expects)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up"], cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    vendors = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    expected = available_vendors()
    while len(vendors) < len(expected) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        print(f"  sandbox: {line.rstrip()}")
        vendors.append(line.split()[0])
    if len(vendors) < len(expected):
        process.terminate()
        raise SystemExit("the sandbox did not start: see the messages above")
    return process, vendors


def bookmarks(tap: str) -> dict[str, str]:
    """The newest bookmark of each stream, from the state Meltano saved for `tap` -> target-duckdb."""
    done = subprocess.run(
        ["meltano", "state", "get", f"sandbox:{tap}-to-target-duckdb"], cwd=REPO, capture_output=True,
        text=True, check=False,
    )
    if done.returncode:
        return {}
    try:
        state = json.loads(done.stdout[done.stdout.index("{"):])
    except ValueError:
        return {}
    found: dict[str, str] = {}
    for stream, bookmark in (state.get("singer_state") or {}).get("bookmarks", {}).items():
        values = [bookmark.get("replication_key_value")]
        values += [p.get("replication_key_value") for p in bookmark.get("partitions", [])]
        values = [str(v) for v in values if v is not None]
        if values:
            found[stream] = max(values)
    return found


def summary(taps: list[str]) -> None:
    connection = duckdb.connect(str(WAREHOUSE), read_only=True)
    tables = connection.sql(
        "select table_schema, table_name from information_schema.tables order by 1, 2"
    ).fetchall()
    print(f"\nWhat landed in {WAREHOUSE.relative_to(REPO)}:\n")
    marks = {f"{tap.replace('-', '_')}.{stream}": value for tap in taps for stream, value in bookmarks(tap).items()}
    print(f"  {'table':<48} {'rows':>10}  newest bookmark (incremental streams)")
    for schema, table in tables:
        rows = (connection.sql(f'select count(*) from "{schema}"."{table}"').fetchone() or (0,))[0]
        name = f"{schema}.{table}"
        print(f"  {name:<48} {rows:>10}  {marks.get(name, '-')}")
    connection.close()


def main() -> int:
    WAREHOUSE.parent.mkdir(exist_ok=True)
    print("Starting the API emulators ...")
    sandbox, vendors = start_sandbox()
    failures = []
    try:
        for vendor in vendors:
            tap = TAPS[vendor]
            print(f"\n== meltano run {tap} target-duckdb")
            done = subprocess.run(
                ["meltano", "run", tap, "target-duckdb"], cwd=REPO, check=False,
                env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
                capture_output=True, text=True,
            )
            if done.returncode:
                failures.append(tap)
                print(done.stderr[-4000:])
                print(f"   {tap}: FAILED (exit {done.returncode})")
            else:
                print(f"   {tap}: ok")
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)
    summary([TAPS[vendor] for vendor in vendors])
    if failures:
        print(f"\nFailed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
