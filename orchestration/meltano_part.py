"""`python -m orchestration.meltano_part TAP LOADER PART`: one `meltano run`, reported to Dagster through Pipes.

Dagster's `PipesSubprocessClient` starts this module with the part's settings in its environment; it
runs `meltano run --state-id-suffix=PART TAP LOADER`, passes Meltano's log to stderr (Dagster keeps it
as the step's compute log), and reports the materialisation with the records per stream (the taps'
`record_count` metrics), the seconds taken and the state ID Meltano used. A failed run exits non-zero,
which fails the step and lets its retry policy run this part, and only this part, again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import typing as t
from collections import Counter
from pathlib import Path

from dagster_pipes import open_dagster_pipes

from orchestration.partitions import PROJECT_ROOT

METRIC_PREFIX = "METRIC: "


class RunLog:
    """What a `meltano --log-format=json run` log tells: records per stream, the state ID."""

    def __init__(self, tap: str) -> None:
        self.tap = tap
        self.rows: Counter[str] = Counter()
        self.state_id = ""

    def read(self, line: str) -> str:
        """Take in one log line; returns it as text for people (the event, with the plugin's name)."""
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


def run_part(tap: str, loader: str, part: str) -> tuple[int, RunLog, float]:
    """Run Meltano for one part; returns its exit code, what its log said, and the seconds taken."""
    meltano = Path(sys.executable).with_name("meltano")
    command = [str(meltano), "--log-format=json", "run", f"--state-id-suffix={part}", tap, loader]
    log = RunLog(tap)
    started = time.monotonic()
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(log.read(line))
    return process.returncode, log, round(time.monotonic() - started, 3)


def main(argv: t.Sequence[str]) -> int:
    tap, loader, part = argv
    with open_dagster_pipes() as pipes:
        returncode, log, seconds = run_part(tap, loader, part)
        if returncode:
            pipes.log.error(f"meltano run of {tap} part {part} failed with exit code {returncode}")
            return returncode
        pipes.report_asset_materialization(
            metadata={
                "rows": {"raw_value": dict(log.rows), "type": "json"},
                "rows_total": {"raw_value": sum(log.rows.values()), "type": "int"},
                "seconds": {"raw_value": seconds, "type": "float"},
                "state_id": {"raw_value": log.state_id, "type": "text"},
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
