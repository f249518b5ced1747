"""Every tap through `meltano run` into DuckDB and a real PostgreSQL server, twice.

The first run must land exactly what the emulator served (rows counted by primary key); between the
runs the emulator serves more rows and a new custom field, and the second run must upsert (no row
twice), add the new column, and lose nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.e2e.warehouses import DuckDBWarehouse, PostgresWarehouse, Warehouse, assert_rows_match
from tests.profiles import PROFILES
from tests.support import Admin, meltano


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
