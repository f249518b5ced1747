"""`python -m orchestration.meltano_part TAP LOADER PART`: one part of a tap as one `meltano run`.

Dagster's `PipesSubprocessClient` starts this module (anything else may: outside Dagster the Pipes
calls do nothing). It runs the part in two steps:

1. `meltano invoke --dump=catalog TAP` with the part's streams selected but the tap's settings as
   configured, not narrowed to the part (Meltano applies no `select` rules to a catalog it is given,
   so the selection has to be in it). Taps that discover schemas from the data (Sitecore's export
   columns, Bloomreach's customer properties, Evergage's attributes) would otherwise give each part
   its own idea of a table's column types, and the loader refuses to narrow a column another part
   created wider.
2. `meltano run --state-id-suffix=PART TAP LOADER` with the part's settings and that catalog.

Meltano's log goes to stderr (Dagster keeps it as the step's compute log). The materialisation is
reported with the records per stream (the tap's `record_count` metrics), the seconds taken and the
state ID Meltano used. A failed run exits non-zero, which fails the step, and its retry policy runs
this part, and only this part, again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from dagster_pipes import open_dagster_pipes

from orchestration.partitions import PROJECT_ROOT, Part, env_prefix, part_named

METRIC_PREFIX = "METRIC: "
MELTANO = str(Path(sys.executable).with_name("meltano"))


class RunLog:
    """What a `meltano --log-format=json run` log tells: records per stream, the state ID."""

    def __init__(self, tap: str) -> None:
        self.tap = tap
        self.rows: Counter[str] = Counter()
        self.state_id = ""

    def read(self, line: str) -> str:
        """Take in one log line; returns it as text for people (the event, after the plugin's name)."""
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return line
        if not isinstance(entry, dict):
            return line
        event = str(entry.get("event", ""))
        self.state_id = self.state_id or str(entry.get("job_name") or "")
        if entry.get("name") == self.tap and event.startswith(METRIC_PREFIX):
            metric = json.loads(event[len(METRIC_PREFIX):])
            if metric.get("metric") == "record_count":
                self.rows[metric["tags"]["stream"]] += int(metric["value"])
        return f"{entry.get('name') or 'meltano'}: {event}\n"


def discover(part: Part, catalog: Path) -> int:
    """Write the tap's catalog to `catalog`: discovered with the settings as configured, the part's streams selected."""
    with catalog.open("w") as out:
        return subprocess.run(
            [MELTANO, "invoke", "--dump=catalog", part.tap], cwd=PROJECT_ROOT, stdout=out, check=False,
            env={**os.environ, **part.select_env()},
        ).returncode


def run(part: Part, loader: str, catalog: Path) -> tuple[int, RunLog]:
    """`meltano run` of the part with the catalog; returns its exit code and what its log said."""
    command = [MELTANO, "--log-format=json", "run", f"--state-id-suffix={part.name}", part.tap, loader]
    env = {**os.environ, **part.settings_env(), f"{env_prefix(part.tap)}__CATALOG": str(catalog)}
    log = RunLog(part.tap)
    with subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(log.read(line))
    return process.returncode, log


def main(tap: str, loader: str, name: str) -> int:
    part = part_named(tap, name)
    catalog = Path(os.environ.get("MELTANO_SYS_DIR_ROOT", PROJECT_ROOT / ".meltano")) / f"{tap}.catalog.json"
    with open_dagster_pipes() as pipes:
        started = time.monotonic()
        if returncode := discover(part, catalog):
            pipes.log.error(f"discovery of {tap} failed with exit code {returncode}")
            return returncode
        returncode, log = run(part, loader, catalog)
        if returncode:
            pipes.log.error(f"meltano run of {tap} part {name} failed with exit code {returncode}")
            return returncode
        pipes.report_asset_materialization(metadata={
            "rows": {"raw_value": dict(log.rows), "type": "json"},
            "rows_total": {"raw_value": sum(log.rows.values()), "type": "int"},
            "seconds": {"raw_value": round(time.monotonic() - started, 3), "type": "float"},
            "state_id": {"raw_value": log.state_id, "type": "text"},
        })
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
