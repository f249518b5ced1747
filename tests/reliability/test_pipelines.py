"""The whole pipeline, `meltano run tap-<name> target-<loader>`, where a user's daily job breaks outside the
vendor's side: killed mid-run (a deploy's SIGTERM, the out-of-memory killer's SIGKILL) and run again, run
twice at once, and scanned for secrets in Meltano's own output, settings listing, system database and state.

Each kill is aimed by watching the pipeline's output (no sleeps): during extraction (the tap begins the
main stream), while the target writes a batch (the loader announces it), and just after a STATE (Meltano
says it stored the state). The whole process group is signalled, as a container stop or a kill of the
job's cgroup does; a SIGTERM not obeyed within a grace period is followed by SIGKILL, as orchestrators do.
After each kill, Meltano's stored state must not cover a row that did not land: the tap, resumed from that
state, re-emits every expected row the warehouse lacks. The last run (with `--force`: Meltano keeps a
killed run marked as running for five minutes) must leave exactly the emulator's rows, each key once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.warehouses import DuckDBWarehouse, PostgresWarehouse, Warehouse, assert_rows_match
from tests.profiles import PROFILES, TapProfile
from tests.reliability.matrix import record_outcome
from tests.support import (
    MELTANO,
    REPO,
    Admin,
    assert_no_secrets,
    discover,
    meltano,
    meltano_env,
    meltano_plugin_locks,
    run_tap,
    select_streams,
)

pytestmark = pytest.mark.e2e

LOADERS = ("target-duckdb", "target-postgres")
#: Small batches, so that a run writes several and the loader reports state between them.
BATCH_ROWS = 50
SIGTERM_GRACE_SECONDS = 30
RUN_TIMEOUT = 300
#: Matrix rows come after the fault rows of test_matrix.py.
ORDER = 100


@dataclass(frozen=True)
class KillPoint:
    name: str
    #: A regex of the merged output of `meltano run`; the signal goes when a line matches.
    pattern: t.Callable[[TapProfile], str]


DURING_EXTRACTION = KillPoint("during extraction", lambda p: rf"Beginning \w* ?sync of '{p.main_stream}'")
TARGET_WRITES_A_BATCH = KillPoint(
    "while the target writes a batch", lambda p: r"Loading \d+ rows into|is full\. Current size is"
)
AFTER_A_STATE = KillPoint("just after a STATE", lambda p: r"Incremental state has been updated")

#: The kills of one pipeline, in order, each run starting from what the previous one left. Each loader
#: takes the other signal at each point, so every tap meets both signals at all three points while a
#: pipeline costs four Meltano runs (CI's time is bounded).
KILLS: dict[str, tuple[tuple[KillPoint, signal.Signals], ...]] = {
    "target-duckdb": (
        (DURING_EXTRACTION, signal.SIGTERM),
        (TARGET_WRITES_A_BATCH, signal.SIGKILL),
        (AFTER_A_STATE, signal.SIGTERM),
    ),
    "target-postgres": (
        (DURING_EXTRACTION, signal.SIGKILL),
        (TARGET_WRITES_A_BATCH, signal.SIGTERM),
        (AFTER_A_STATE, signal.SIGKILL),
    ),
}


@dataclass
class Killed:
    """One `meltano run` killed at a point: its output, exit code, and whether the signal was sent."""

    returncode: int
    output: str
    signalled: bool
    escalated: bool = False


@dataclass
class Pipeline:
    """One job (`tap-x target-y`) with its own emulator, warehouse and Meltano system database."""

    profile: TapProfile
    loader: str
    base_url: str
    warehouse: Warehouse
    env: dict[str, str]
    system_db: Path
    secrets: tuple[str, ...] = ()
    #: (what, text) of everything Meltano and the plugins wrote, for the secret scan.
    outputs: list[tuple[str, str]] = field(default_factory=list)
    catalog: dict[str, t.Any] = field(default_factory=dict)

    @property
    def state_id(self) -> str:
        return f"sandbox:{self.profile.tap}-to-{self.loader}"

    def run(self, *options: str, log_level: str = "info") -> subprocess.CompletedProcess[str]:
        done = meltano(f"--log-level={log_level}", "run", *options, self.profile.tap, self.loader, env=self.env,
                       timeout=RUN_TIMEOUT)
        self.outputs.append((f"meltano --log-level={log_level} run", done.stdout + done.stderr))
        return done

    def run_killed(self, point: KillPoint, sig: signal.Signals, *options: str) -> Killed:
        """`meltano run`, its process group signalled when a line of its output matches `point`."""
        pattern = re.compile(point.pattern(self.profile))
        lines: list[str] = []
        signalled = escalated = False
        with meltano_plugin_locks(self.profile.tap, self.loader):
            process = subprocess.Popen(
                [MELTANO, "run", *options, self.profile.tap, self.loader], cwd=REPO, env=meltano_env(self.env),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    lines.append(line)
                    if not signalled and pattern.search(line):
                        os.killpg(process.pid, sig)
                        signalled = True
                        break
                try:
                    rest, _ = process.communicate(timeout=SIGTERM_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    escalated = True
                    os.killpg(process.pid, signal.SIGKILL)
                    rest, _ = process.communicate()
                lines.append(rest or "")
            finally:
                # Whatever the group still runs (a plugin that outlived Meltano) ends with the run.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output = "".join(lines)
        self.outputs.append((f"meltano run killed by {sig.name} {point.name}", output))
        return Killed(process.returncode, output, signalled, escalated)

    def stored_state(self) -> dict[str, t.Any]:
        """The Singer state Meltano would hand the tap on the next run: its completed state, with the
        partial state of an unfinished run merged over it ({} when none)."""
        with contextlib.closing(sqlite3.connect(self.system_db)) as db:
            row = db.execute("select completed_state, partial_state from state where state_id = ?",
                             (self.state_id,)).fetchone()
        if row is None:
            return {}
        completed, partial = (json.loads(v).get("singer_state") or {} if v else {} for v in row)
        return _merged(completed, partial)

    def landed_keys(self) -> set[tuple[t.Any, ...]]:
        table = self.profile.main_stream
        return self.warehouse.keys(self.profile.schema, table, self.profile.table_keys[table])

    def uncovered_rows(self, state: dict[str, t.Any]) -> set[tuple[t.Any, ...]]:
        """Expected rows of the main stream that neither landed nor come again when resumed from `state`."""
        config = self.profile.config(self.base_url)
        self.catalog = self.catalog or select_streams(discover(self.profile.tap, config), self.profile.main_stream)
        resumed = run_tap(self.profile.tap, config, catalog=self.catalog, state=state)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        expected = self.profile.expected_keys(self.profile.emulator_settings)
        missing = expected - {self.profile.record_key(r) for r in resumed.records(self.profile.main_stream)}
        # Key columns as the warehouse holds them (the tap's record key is the same tuple where it is a
        # plain column: every main stream but Bloomreach's, whose resume is a whole new export anyway).
        return missing - self.landed_keys() if missing else set()

    def system_database_text(self) -> str:
        """Every value of every table of Meltano's system database, as text."""
        with contextlib.closing(sqlite3.connect(self.system_db)) as db:
            tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
            return "\n".join(repr(row) for table in tables for row in db.execute(f'select * from "{table}"'))


@pytest.fixture
def pipeline(request, emulator, postgres, tmp_path: Path) -> Pipeline:
    vendor, loader = request.param
    profile = PROFILES[vendor]
    server = emulator(vendor, **profile.emulator_settings)
    if loader == "target-duckdb":
        warehouse: Warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
        batch = {"TARGET_DUCKDB_BATCH_SIZE_ROWS": str(BATCH_ROWS)}
    else:
        warehouse = PostgresWarehouse(postgres)
        batch = {"TARGET_POSTGRES_BATCH_SIZE_ROWS": str(BATCH_ROWS)}
    # A schema of its own per test: the session's PostgreSQL is shared with the warehouse suites.
    schema = f"{profile.schema}_{request.node.originalname.split('_')[1]}"
    profile = dataclasses.replace(profile, schema=schema)
    system_db = tmp_path / "meltano.db"
    env = {
        **profile.env(server), **warehouse.env(), **batch,
        "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": schema, "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "MELTANO_DATABASE_URI": f"sqlite:///{system_db}",
    }
    secrets = (*profile.secrets, postgres.password)
    return Pipeline(profile, loader, server.base_url, warehouse, env, system_db, secrets)


#: Loader first: the two xdist workers then take different taps (runs of one plugin are serialised).
PIPELINES = pytest.mark.parametrize(
    "pipeline",
    [pytest.param((vendor, loader), id=f"{loader}-{vendor}") for loader in LOADERS for vendor in sorted(PROFILES)],
    indirect=True,
)


def _merged(base: dict[str, t.Any], over: dict[str, t.Any]) -> dict[str, t.Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


def _matrix_row(pipeline: Pipeline, scenario: str, outcome: str, order: int) -> None:
    record_outcome(pipeline.profile.vendor, f"{scenario} ({pipeline.loader})", outcome, ORDER + order)


def _slow_extraction(pipeline: Pipeline) -> None:
    """Pages of the main stream arrive slowly, so that every kill point is reached before the end."""
    Admin(pipeline.base_url).clear_faults()
    Admin(pipeline.base_url).faults(
        {"kind": "latency", "seconds": 0.05, "times": -1, "path": pipeline.profile.data_path})


@PIPELINES
def test_killed_pipeline_runs_again_to_exactly_the_emulators_rows(pipeline: Pipeline) -> None:
    profile = pipeline.profile
    expected = profile.expected_rows(profile.emulator_settings)
    kills = KILLS[pipeline.loader]
    for index, (point, sig) in enumerate(kills):
        scenario = f"meltano run {sig.name} {point.name}"
        try:
            _slow_extraction(pipeline)
            killed = pipeline.run_killed(point, sig, "--force")
            assert killed.signalled, f"the run ended before {point.name}:\n{killed.output[-3000:]}"
            assert killed.returncode != 0, (
                f"a run killed by {sig.name} {point.name} exited 0: the scheduler would take it for a success\n"
                f"{killed.output[-3000:]}"
            )
            Admin(pipeline.base_url).clear_faults()
            main = profile.main_stream
            if main in pipeline.warehouse.tables(profile.schema):
                rows = pipeline.warehouse.count(profile.schema, main)
                assert rows == len(pipeline.landed_keys()), f"a {main} row landed twice"
            uncovered = pipeline.uncovered_rows(pipeline.stored_state())
            assert not uncovered, f"the stored state covers {len(uncovered)} rows that did not land"
        except AssertionError:
            _matrix_row(pipeline, scenario, "REGRESSED", index)
            raise
        _matrix_row(pipeline, scenario, "state covers only landed rows" + (" (SIGKILL after grace)" if
                    killed.escalated else ""), index)

    scenario = "meltano run again after the kills"
    try:
        final = pipeline.run("--force", log_level="debug")
        assert final.returncode == 0, final.stderr[-5000:]
        assert_rows_match(pipeline.warehouse, profile, expected)
    except AssertionError:
        _matrix_row(pipeline, scenario, "REGRESSED", len(kills))
        raise
    _matrix_row(pipeline, scenario, f"exact, {expected[profile.main_stream]} {profile.main_stream}", len(kills))

    scenario = "secrets: meltano debug log, config list, system db, state"
    try:
        for plugin in (profile.tap, pipeline.loader):
            listed = meltano("--environment=sandbox", "config", "list", plugin, env=pipeline.env, timeout=120)
            assert listed.returncode == 0, listed.stderr[-3000:]
            pipeline.outputs.append((f"meltano config list {plugin}", listed.stdout + listed.stderr))
        state = meltano("state", "get", pipeline.state_id, env=pipeline.env, timeout=120)
        pipeline.outputs.append(("meltano state get", state.stdout + state.stderr))
        pipeline.outputs.append(("Meltano's system database", pipeline.system_database_text()))
        for what, text in pipeline.outputs:
            try:
                assert_no_secrets(text, pipeline.secrets)
            except AssertionError as leak:
                raise AssertionError(f"{what}: {leak}") from None
    except AssertionError:
        _matrix_row(pipeline, scenario, "REGRESSED", len(kills) + 2)
        raise
    _matrix_row(pipeline, scenario, "no secret in any of them", len(kills) + 2)


#: What a run that lost the race says, by cause: Meltano's own check of a running job with the same
#: state ID, DuckDB's lock on the warehouse file held by the other run's loader, or (two runs started in
#: the same instant, both past Meltano's check) Meltano's run directory `.meltano/run/<plugin>/`, shared by
#: both, where each writes the tap's catalog over the other's.
REFUSALS = {
    "refused: another run is in progress": ("pipeline is already running",),
    "failed: the warehouse file is locked": ("Could not set lock on file",),
    "failed: Meltano's shared run directory": ("Invalid catalog", "tap.properties.json"),
}


def _refusal(output: str) -> str:
    causes = [cause for cause, says in REFUSALS.items() if any(words in output for words in says)]
    assert causes, f"the run that lost the race does not say why:\n{output[-3000:]}"
    return causes[0]


def _start_run(pipeline: Pipeline) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MELTANO, "run", pipeline.profile.tap, pipeline.loader], cwd=REPO, env=meltano_env(pipeline.env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


#: How long the first run's first pages of its main stream are held while the second run starts.
OVERLAP_HOLD_SECONDS = 8.0  # a second Meltano starts and checks well within this, even on a busy CI machine
OVERLAP_HELD_PAGES = 2


def _held_pages_left(pipeline: Pipeline) -> int:
    return sum(fault["times"] for fault in Admin(pipeline.base_url).pending_faults())
ONE_JOB_TWICE = pytest.mark.parametrize(
    "pipeline", [pytest.param((vendor, "target-duckdb"), id=vendor) for vendor in sorted(PROFILES)], indirect=True
)


@ONE_JOB_TWICE
def test_a_second_run_while_the_first_runs_is_refused_clearly(pipeline: Pipeline) -> None:
    """A scheduler's retry, or a manual run, overlapping a slow run of the same job."""
    profile = pipeline.profile
    scenario = "a second meltano run while one runs"
    # A daily job's system database exists already (two first runs would race to create its tables).
    assert meltano("state", "list", env=pipeline.env, timeout=120).returncode == 0
    try:
        # The first run's first pages of its main stream are each held a few seconds, and the second run
        # starts once the first of them has arrived: the first run is surely running when the second checks.
        held = {"kind": "latency", "seconds": OVERLAP_HOLD_SECONDS, "times": OVERLAP_HELD_PAGES}
        Admin(pipeline.base_url).faults({**held, "path": profile.data_path})
        with meltano_plugin_locks(profile.tap, pipeline.loader), ThreadPoolExecutor(1) as drain:
            first = _start_run(pipeline)
            rest = drain.submit(first.communicate, timeout=RUN_TIMEOUT)
            deadline = time.monotonic() + RUN_TIMEOUT
            while _held_pages_left(pipeline) == OVERLAP_HELD_PAGES and first.poll() is None:
                assert time.monotonic() < deadline, "the first run never asked for its main stream"
                time.sleep(0.05)
            second = _start_run(pipeline)
            second_output = second.communicate(timeout=RUN_TIMEOUT)[0]
            first_was_running = first.poll() is None
            first_output = rest.result()[0]
        for output in (first_output, second_output):
            assert_no_secrets(output, pipeline.secrets)
        assert first.returncode == 0, f"the first run failed:\n{first_output[-3000:]}"
        assert second.returncode != 0, (
            "the second run did not notice the first"
            + ("" if first_was_running else " (which ended before the second did: too fast to overlap?)")
            + f":\n{second_output[-3000:]}"
        )
        assert _refusal(second_output) == "refused: another run is in progress", second_output[-3000:]
        assert_rows_match(pipeline.warehouse, profile, profile.expected_rows(profile.emulator_settings))
    except AssertionError:
        record_outcome(profile.vendor, f"{scenario} (target-duckdb)", "REGRESSED", ORDER + 10)
        raise
    record_outcome(profile.vendor, f"{scenario} (target-duckdb)", "refused clearly; warehouse exact", ORDER + 10)


@ONE_JOB_TWICE
def test_two_runs_started_in_one_instant_lose_nothing(pipeline: Pipeline) -> None:
    """Two `meltano run` of one job started in the same instant: both can pass Meltano's running-job check
    (it reads, then writes, the job's row), and then share Meltano's run directory. One or both fail, each
    saying why; nothing lands twice, no state covers a row that did not land, and the next run is exact."""
    profile = pipeline.profile
    scenario = "two meltano runs in one instant"
    assert meltano("state", "list", env=pipeline.env, timeout=120).returncode == 0
    try:
        with meltano_plugin_locks(profile.tap, pipeline.loader):
            runs = [_start_run(pipeline) for _ in range(2)]
            outputs = [run.communicate(timeout=RUN_TIMEOUT)[0] for run in runs]
        for output in outputs:
            assert_no_secrets(output, pipeline.secrets)
        failed = [out for run, out in zip(runs, outputs, strict=True) if run.returncode != 0]
        causes = sorted({_refusal(output) for output in failed})
        main = profile.main_stream
        if main in pipeline.warehouse.tables(profile.schema):
            assert pipeline.warehouse.count(profile.schema, main) == len(pipeline.landed_keys()), (
                f"a {main} row landed twice")
        uncovered = pipeline.uncovered_rows(pipeline.stored_state())
        assert not uncovered, f"the stored state covers {len(uncovered)} rows that did not land"
        if len(failed) == 2:
            again = pipeline.run()
            assert again.returncode == 0, again.stderr[-3000:]
        assert_rows_match(pipeline.warehouse, profile, profile.expected_rows(profile.emulator_settings))
    except AssertionError:
        record_outcome(profile.vendor, f"{scenario} (target-duckdb)", "REGRESSED", ORDER + 11)
        raise
    outcome = {0: "both finished", 1: "one finished, one " + ", ".join(causes)}.get(
        len(failed), "both " + ", ".join(causes) + "; the next run finished")
    record_outcome(profile.vendor, f"{scenario} (target-duckdb)", f"{outcome}; warehouse exact", ORDER + 11)
