"""Collects each scenario's outcome and prints the fault x tap matrix at the end of the session.

The hooks are registered by `tests/conftest.py`: under pytest-xdist only the workers collect, so a
hook in this folder's own conftest would never run in the controller, which prints the summary.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_ENV = "RELIABILITY_MATRIX_DIR"


def results_dir() -> Path:
    """One directory per pytest session, named by the controller and inherited by its xdist workers."""
    if _ENV not in os.environ:
        os.environ[_ENV] = tempfile.mkdtemp(prefix="reliability-matrix-")
    return Path(os.environ[_ENV])


def record_outcome(vendor: str, scenario: str, outcome: str, order: int = 0) -> None:
    path = results_dir()
    path.mkdir(parents=True, exist_ok=True)
    cell = {"vendor": vendor, "scenario": scenario, "outcome": outcome, "order": order}
    (path / f"{vendor}--{scenario}.json").write_text(json.dumps(cell))


def configure_matrix() -> None:
    # The controller names the directory before it starts the workers, which inherit the variable.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ[_ENV] = tempfile.mkdtemp(prefix="reliability-matrix-")


def print_matrix(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") or _ENV not in os.environ:
        return
    RESULTS = results_dir()  # noqa: N806
    if not RESULTS.exists():
        return
    cells = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    if not cells:
        return
    vendors = sorted({c["vendor"] for c in cells})
    ordered = sorted(cells, key=lambda c: (c.get("order", 0), c["scenario"]))
    scenarios = list(dict.fromkeys(c["scenario"] for c in ordered))
    table = {(c["scenario"], c["vendor"]): c["outcome"] for c in cells}
    width = max(len(s) for s in scenarios) + 2
    col = max(28, *(len(o) + 2 for o in table.values()))
    terminalreporter.section("reliability matrix: fault x tap -> outcome")
    terminalreporter.write_line("fault".ljust(width) + "".join(v.ljust(col) for v in vendors))
    for scenario in scenarios:
        row = scenario.ljust(width) + "".join(table.get((scenario, v), "n/a").ljust(col) for v in vendors)
        terminalreporter.write_line(row)
    shutil.rmtree(RESULTS, ignore_errors=True)
