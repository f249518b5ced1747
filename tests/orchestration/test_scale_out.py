"""Each tap's parts as parallel Meltano runs under Dagster, with Meltano's state in a real S3-protocol server.

The parts run through the code location's own jobs with the multiprocess executor, into a real
PostgreSQL server; one un-partitioned `meltano run` of the same streams into another schema is the
reference they must equal, row for row.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterEventType
from psycopg.rows import dict_row

from orchestration.partitions import Part, parts_of
from sandbox.sitecore_cdp import SitecoreCDPEmulator
from tests.orchestration.conftest import Orchestration, StateStore
from tests.postgres import PostgresServer
from tests.profiles import PROFILES, SITECORE, SITECORE_EXPORTS
from tests.sitecore_cdp.helpers import expected_keys as sitecore_expected_keys
from tests.support import Admin, meltano

pytestmark = pytest.mark.e2e

BLOOMREACH_SEGMENTATION = {  # the sandbox's first segmentation: three segments
    "ORCHESTRATION_BLOOMREACH_SEGMENTATION_ID": "606488856f8cf6f848b20af8",
    "ORCHESTRATION_BLOOMREACH_SEGMENT_COUNT": "3",
}
STREAMS = {"tap-evergage": {"users", "segment_members", "accounts", "audit_events"}, "tap-bloomreach": {"customers"}}
#: Per tap: the parts to materialise (None: all), the streams they cover, and each table's primary key.
CASES: dict[str, tuple[list[str] | None, dict[str, tuple[str, ...]]]] = {
    "evergage": (None, {
        "users": ("dataset", "name"), "segment_members": ("dataset", "segment", "name"), "audit_events": ("id",),
    }),
    "bloomreach": (
        ["customers__no_segment", "customers__segment_0", "customers__segment_1", "customers__segment_2"],
        {"customers": ("customer_key",)},
    ),
}


def rows_by_key(server: PostgresServer, schema: str, table: str, keys: t.Sequence[str]) -> dict[tuple, dict]:
    """Every row of a table by primary key, without the loader's `_sdc_` columns; fails on a key seen twice."""
    with psycopg.connect(server.url, row_factory=dict_row) as connection:
        rows = connection.execute(f'select * from "{schema}"."{table}"').fetchall()
    found: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        assert key not in found, f"{schema}.{table}: {key} loaded twice"
        found[key] = {k: v for k, v in row.items() if not k.startswith("_sdc_")}
    return found


def synced_by(part: Part) -> set[str]:
    """The streams a part may sync: those it selects by name, or (`other_streams`) any it does not exclude."""
    named = {p.removesuffix(".*") for p in part.select if p != "*.*" and not p.startswith("!")}
    if named:
        return named
    excluded = {p.removeprefix("!").removesuffix(".*") for p in part.select if p.startswith("!")}
    return {s for s in STREAMS[part.tap] if s not in excluded}


def point_at(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("vendor", sorted(CASES))
def test_parallel_parts_land_exactly_what_one_run_lands_with_one_state_object_each(
    vendor: str, emulator, postgres: PostgresServer, state_store: StateStore, orchestration: Orchestration,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    profile = PROFILES[vendor]
    selected_parts, tables = CASES[vendor]
    server = emulator(vendor, **profile.emulator_settings)
    point_at(monkeypatch, {**profile.env(server), **postgres.target_env(), **BLOOMREACH_SEGMENTATION})

    single = meltano(
        "run", profile.tap, "target-postgres",
        env={
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"{profile.schema}_single",
            f"{profile.tap.upper().replace('-', '_')}__SELECT": str([f"{t}.*" for t in tables]).replace("'", '"'),
            "MELTANO_STATE_BACKEND_URI": "systemdb",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'single.db'}",
        },
    )
    assert single.returncode == 0, single.stderr[-5000:]

    point_at(monkeypatch, {
        **state_store.env(), "ORCHESTRATION_LOADER": "target-postgres",
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"{profile.schema}_parts",
    })
    run = orchestration.materialise(profile.schema, selected_parts)
    assert run.result.success

    parts = selected_parts or [part.name for part in parts_of(profile.tap)]
    assert sorted(run.materialisations()) == sorted(parts)
    assert run.overlapping_steps(), "the multiprocess executor ran parts side by side"
    for table, keys in tables.items():
        expected = rows_by_key(postgres, f"{profile.schema}_single", table, keys)
        assert expected, f"the single run loaded {table}"
        assert rows_by_key(postgres, f"{profile.schema}_parts", table, keys) == expected, table

    state_ids = [f"sandbox:{profile.tap}-to-target-postgres:{part}" for part in parts]
    assert state_store.state_ids() == sorted(state_ids), "one state object per part, nothing else"
    metadata = run.materialisations()
    assert sorted(m["state_id"] for m in metadata.values()) == sorted(state_ids)
    assert all(m["seconds"] > 0 for m in metadata.values())
    for part in parts_of(profile.tap):
        if part.name in metadata:
            assert set(metadata[part.name]["rows"]) <= synced_by(part), f"{part.name} synced only its streams"
    for table in tables:
        loaded = sum(m["rows"].get(table, 0) for m in metadata.values())
        assert loaded >= len(rows_by_key(postgres, f"{profile.schema}_parts", table, tables[table])), table


SITECORE_TABLES = {"audience_export_records": ("execution_ref", "file_index", "row_number"),
                   "audience_export_jobs": ("executionRef",)}


def sitecore_keys(postgres: PostgresServer, schema: str) -> tuple[set[tuple], int]:
    records = rows_by_key(postgres, schema, "audience_export_records", SITECORE_TABLES["audience_export_records"])
    jobs = rows_by_key(postgres, schema, "audience_export_jobs", SITECORE_TABLES["audience_export_jobs"])
    return set(records), len(jobs)


def sitecore_expected(**settings: t.Any) -> tuple[set[tuple], int]:
    model = SitecoreCDPEmulator(**SITECORE.emulator_settings, **settings)
    jobs = sum(len(model.jobs_of(model.export_by_ref(name))) for name in SITECORE_EXPORTS)
    return set(sitecore_expected_keys(model, *SITECORE_EXPORTS)), jobs


@pytest.fixture
def sitecore(emulator, postgres: PostgresServer, state_store: StateStore, monkeypatch: pytest.MonkeyPatch):
    server = emulator("sitecore-cdp", **SITECORE.emulator_settings)
    schema = f"tap_sitecore_cdp_{id(server)}"
    point_at(monkeypatch, {
        **SITECORE.env(server), **postgres.target_env(), **state_store.env(),
        "ORCHESTRATION_LOADER": "target-postgres", "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
    })
    return server, schema


def test_a_failed_part_is_retried_alone_and_lands_nothing_twice(
    sitecore, postgres: PostgresServer, orchestration: Orchestration
) -> None:
    server, schema = sitecore
    # The next download of a weekly export file answers 400, fatal for the tap: the part that meets it
    # fails. That is the weekly part's run, or another part's discovery (which samples every export).
    Admin(server.base_url).faults({"kind": "status", "status": 400, "path": "/weekly-vip-export/", "times": 1})

    run = orchestration.materialise("tap_sitecore_cdp")

    assert run.result.success
    failed = run.steps(DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(failed) == 1, failed
    assert sum(failed.values()) == 1
    assert run.steps(DagsterEventType.STEP_RESTARTED) == failed, "only the failed part ran again"
    assert set(run.steps(DagsterEventType.STEP_START).values()) == {1}
    assert sorted(run.materialisations()) == sorted(part.name for part in parts_of("tap-sitecore-cdp"))
    assert Admin(server.base_url).pending_faults() == []
    assert sitecore_keys(postgres, schema) == sitecore_expected()


def test_a_second_materialisation_syncs_only_each_parts_new_jobs(
    sitecore, postgres: PostgresServer, orchestration: Orchestration
) -> None:
    server, schema = sitecore
    first = orchestration.materialise("tap_sitecore_cdp")
    assert first.result.success
    first_jobs = {p: m["rows"].get("audience_export_jobs", 0) for p, m in first.materialisations().items()}

    Admin(server.base_url).settings(extra_jobs=1)  # one new job per export
    second = orchestration.materialise("tap_sitecore_cdp")

    assert second.result.success
    metadata = second.materialisations()
    for part in ("audience_exports__weekly_vip_export", "audience_exports__daily_delta_export"):
        assert first_jobs[part] > 1
        assert metadata[part]["rows"]["audience_export_jobs"] == 1, f"{part}: only the new job, no job twice"
        assert metadata[part]["state_id"].endswith(f":{part}")
    assert sitecore_keys(postgres, schema) == sitecore_expected(extra_jobs=1)
