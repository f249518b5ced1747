"""Every tap through `meltano run` into DuckDB and a real PostgreSQL server, twice, and into JSON Lines.

The loaders run as `meltano.yml` ships them (the fastest exact configuration `bench/run.py` found, see
bench/README.md): the tests override where a loader writes, never how. The first run must land exactly
what the emulator served (rows counted by primary key); between the runs the emulator serves more rows
and a new custom field, and the second run must upsert (no row twice), add the new column, and lose
nothing.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from pathlib import Path

import pytest

from tests.e2e.warehouses import DuckDBWarehouse, JsonlWarehouse, PostgresWarehouse, Warehouse, assert_rows_match
from tests.profiles import PROFILES
from tests.support import Admin, meltano

#: What meltano.yml sets for each loader beyond where it writes: the configurations the bench measured
#: fastest among those that land every row exactly. The runs below prove they do.
SHIPPED_LOADER_CONFIG: dict[str, dict[str, t.Any]] = {
    # flush_all_streams: target-duckdb 0.8.0 otherwise reports a STATE covering other streams' rows still
    # in its buffer (a kill then loses them; tests/reliability/test_pipelines.py).
    "target-duckdb": {"add_metadata_columns": True, "flush_all_streams": True},
    "target-postgres": {"add_record_metadata": True, "use_copy": True, "validate_records": False},
    "target-jsonl": {"do_timestamp_file": False},
}


@pytest.mark.parametrize("loader", sorted(SHIPPED_LOADER_CONFIG))
def test_meltano_yml_ships_the_loader_configuration_these_runs_prove(loader: str, tmp_path: Path) -> None:
    done = meltano("config", "print", loader, env={"MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"})
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads(done.stdout[done.stdout.index("{"):])
    shipped = {name: config.get(name) for name in SHIPPED_LOADER_CONFIG[loader]}
    assert shipped == SHIPPED_LOADER_CONFIG[loader]


@pytest.mark.parametrize("loader", ["target-duckdb", "target-postgres"])
@pytest.mark.parametrize("vendor", sorted(PROFILES))
def test_two_meltano_runs_land_exactly_what_was_served_and_evolve_the_schema(
    vendor: str, loader: str, emulator, postgres, tmp_path: Path
) -> None:
    profile = PROFILES[vendor]
    server = emulator(vendor, **profile.emulator_settings)
    warehouse: Warehouse = (
        DuckDBWarehouse(tmp_path / "warehouse.duckdb") if loader == "target-duckdb" else PostgresWarehouse(postgres)
    )
    env = {
        **profile.env(server),
        **warehouse.env(),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }

    first = meltano("run", profile.tap, loader, env=env)
    assert first.returncode == 0, first.stderr[-5000:]
    assert_rows_match(warehouse, profile, profile.expected_rows(profile.emulator_settings))
    table, column = profile.new_column
    assert column.lower() not in warehouse.columns(profile.schema, table)

    Admin(server.base_url).settings(**profile.second_run_settings)
    second = meltano("run", profile.tap, loader, env=env)
    assert second.returncode == 0, second.stderr[-5000:]
    assert_rows_match(
        warehouse, profile, profile.expected_rows({**profile.emulator_settings, **profile.second_run_settings})
    )
    assert column.lower() in warehouse.columns(profile.schema, table), "the new field became a column"


@pytest.mark.parametrize("vendor", sorted(PROFILES))
def test_batch_messages_load_the_same_rows_into_postgres_as_records(
    vendor: str, emulator, postgres, tmp_path: Path
) -> None:
    """With the SDK's `batch_config` the tap writes gzip JSONL files and BATCH messages instead of RECORDs."""
    profile = PROFILES[vendor]
    server = emulator(vendor, **profile.emulator_settings)
    batch_dir = tmp_path / "batches"
    batch_dir.mkdir()
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{batch_dir}", "prefix": f"{vendor}-"},
    }
    prefix = profile.tap.upper().replace("-", "_")
    env = {
        **profile.env(server),
        **postgres.target_env(),
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"{profile.schema}_batch",
        f"{prefix}_BATCH_CONFIG": json.dumps(batch_config),
        # The SDK writes batch files before stream maps and flattening apply (singer-sdk 0.54), so a
        # flattened schema would not match the files' nested records: BATCH runs unflattened.
        f"{prefix}_FLATTENING_ENABLED": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    done = meltano("run", profile.tap, "target-postgres", env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert any(batch_dir.iterdir()), "the tap wrote batch files"
    warehouse = PostgresWarehouse(postgres)
    batch_profile = dataclasses.replace(profile, schema=f"{profile.schema}_batch")
    assert_rows_match(warehouse, batch_profile, profile.expected_rows(profile.emulator_settings))


@pytest.mark.parametrize("vendor", sorted(PROFILES))
def test_a_meltano_run_into_json_lines_files_writes_every_key_it_was_served(
    vendor: str, emulator, tmp_path: Path
) -> None:
    """target-jsonl appends, so one run: each table's file holds every key the emulator served.

    A file is append-only: a record served twice (Evergage's user that changes mid-export) is in it twice.
    """
    profile = PROFILES[vendor]
    server = emulator(vendor, **profile.emulator_settings)
    warehouse = JsonlWarehouse(tmp_path / "jsonl")
    env = {**profile.env(server), **warehouse.env(), "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"}
    done = meltano("run", profile.tap, "target-jsonl", env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    duplicates_served = len(profile.emulator_settings.get("duplicates", ()))
    for table, rows in profile.expected_rows(profile.emulator_settings).items():
        assert warehouse.distinct_keys(profile.schema, table, profile.table_keys[table]) == rows, table
        assert rows <= warehouse.count(profile.schema, table) <= rows + duplicates_served, table
