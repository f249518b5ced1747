"""Sitecore audiences in the warehouse, through `meltano run` into DuckDB and PostgreSQL.

- `audience_export_mode: latest`: after a second job, target-postgres marks the first snapshot's rows
  deleted (ACTIVATE_VERSION), target-duckdb keeps them; the README's query gives the current rows on both.
- The README's query for the current members of a DELTA export, run on both, against the emulator's
  membership after several jobs (adds and removes).
"""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import duckdb
import pytest

from sandbox.sitecore_cdp import SitecoreCDPEmulator, data
from tests.profiles import PROFILES
from tests.support import REPO, Admin, meltano

if t.TYPE_CHECKING:
    from tests.postgres import PostgresServer

PROFILE = PROFILES["sitecore-cdp"]
README = REPO / "tap-sitecore-cdp" / "README.md"
SETTINGS = {"scale": 60, "max_rows_per_file": 25}
LOADERS = ["target-duckdb", "target-postgres"]


def readme_sql(name: str, schema: str) -> str:
    """The query between the README's `BEGIN name` / `END name` markers, on `schema`."""
    block = re.search(rf"<!-- BEGIN {name} -->\s*```sql\n(.*?)```\s*<!-- END {name} -->", README.read_text(), re.S)
    assert block, f"{name}: no such query in {README}"
    return block.group(1).replace("tap_sitecore_cdp.", f"{schema}.").rstrip().rstrip(";")


class Loaded:
    """One warehouse that `meltano run tap-sitecore-cdp <loader>` writes to, and queries on it."""

    def __init__(self, loader: str, tmp_path: Path, postgres: PostgresServer, schema: str) -> None:
        self.loader, self.postgres, self.schema = loader, postgres, schema
        self.duckdb_path = tmp_path / "warehouse.duckdb"
        self.env = {"MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
                    "TAP_SITECORE_CDP__SELECT": json.dumps(["audience_export_records.*"])}
        if loader == "target-duckdb":
            self.env |= {"TARGET_DUCKDB_FILEPATH": str(self.duckdb_path), "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": schema}
        else:
            self.env |= {**postgres.target_env(), "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema}

    def run(self, server_env: dict[str, str], **settings: str) -> None:
        extra = {f"TAP_SITECORE_CDP_{name.upper()}": value for name, value in settings.items()}
        done = meltano("run", "tap-sitecore-cdp", self.loader, env={**server_env, **self.env, **extra})
        assert done.returncode == 0, done.stderr[-5000:]

    def query(self, sql: str) -> list[tuple[t.Any, ...]]:
        if self.loader == "target-duckdb":
            with duckdb.connect(str(self.duckdb_path), read_only=True) as db:
                return db.execute(sql).fetchall()
        return [tuple(row) for row in self.postgres.query(sql)]


def newest_job_refs(model: SitecoreCDPEmulator, export: str) -> set[tuple[str, int, int]]:
    job = [job for job in model.jobs_of(model.export_by_ref(export)) if job.status == "SUCCESS"][-1]
    return {(job.execution_ref, index, row) for index, file in enumerate(job.files) for row in range(1, file.rows + 1)}


@pytest.mark.parametrize("loader", LOADERS)
def test_latest_mode_replaces_the_snapshot_in_postgres_and_the_documented_query_finds_it_in_both(
    loader: str, emulator, postgres, tmp_path: Path
) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    warehouse = Loaded(loader, tmp_path, postgres, "sitecore_latest")
    keys = 'execution_ref, file_index, "row_number"'
    table = f"{warehouse.schema}.audience_export_records"
    warehouse.run(PROFILE.env(server), audience_export_mode="latest")
    first = newest_job_refs(SitecoreCDPEmulator(**SETTINGS), "weekly-vip-export") | newest_job_refs(
        SitecoreCDPEmulator(**SETTINGS), "daily-delta-export")
    assert set(warehouse.query(f"SELECT {keys} FROM {table}")) == first

    Admin(server.base_url).settings(extra_jobs=1)
    warehouse.run(PROFILE.env(server), audience_export_mode="latest")
    model = SitecoreCDPEmulator(**SETTINGS, extra_jobs=1)
    current = newest_job_refs(model, "weekly-vip-export") | newest_job_refs(model, "daily-delta-export")
    assert not current & first
    if loader == "target-postgres":
        # ACTIVATE_VERSION: the first snapshot's rows are marked deleted, the new one's are not.
        assert set(warehouse.query(f"SELECT {keys} FROM {table} WHERE _sdc_deleted_at IS NULL")) == current
        assert set(warehouse.query(f"SELECT {keys} FROM {table} WHERE _sdc_deleted_at IS NOT NULL")) == first
    else:
        # target-duckdb ignores ACTIVATE_VERSION: both snapshots stay.
        assert set(warehouse.query(f"SELECT {keys} FROM {table}")) == first | current
    snapshot = readme_sql("latest-snapshot-sql", warehouse.schema)
    assert set(warehouse.query(f"SELECT {keys} FROM ({snapshot}) AS snapshot")) == current

@pytest.mark.parametrize("loader", LOADERS)
def test_documented_query_gives_the_current_members_of_a_delta_export_after_several_jobs(
    loader: str, emulator, postgres, tmp_path: Path
) -> None:
    settings = {**SETTINGS, "exports": [{"friendly_id": "daily-delta-export", "format": "csv", "delimiter": "|",
                                         "definition_type": "DELTA", "jobs": 5, "alert_jobs": [2],
                                         "failed_jobs": [3]}]}
    server = emulator("sitecore-cdp", **settings)
    warehouse = Loaded(loader, tmp_path, postgres, "sitecore_delta")
    env = {**PROFILE.env(server), "TAP_SITECORE_CDP_AUDIENCE_EXPORTS": json.dumps(["daily-delta-export"])}
    warehouse.run(env)
    model = SitecoreCDPEmulator(**settings)
    members = {data.ref_for(i, model.seed, "guest") for i in model.members("daily-delta-export")}
    first_job = {data.ref_for(i, model.seed, "guest") for i in range(SETTINGS["scale"])}
    assert members - first_job and first_job - members, "later jobs added guests and removed others"
    found = warehouse.query(readme_sql("delta-members-sql", warehouse.schema))
    assert len(found) == len(members) and {row[0] for row in found} == members
