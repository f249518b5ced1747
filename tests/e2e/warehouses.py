"""Uniform read access to what the loaders write: DuckDB files, PostgreSQL schemas, JSON Lines files.

The end-to-end tests and `bench/run.py` (which checks every loader run for exactness) read through these.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import duckdb

from tests.postgres import PostgresServer

if t.TYPE_CHECKING:
    from tests.profiles import TapProfile


class Warehouse(t.Protocol):
    loader: str

    def env(self) -> dict[str, str]: ...
    def count(self, schema: str, table: str) -> int: ...
    def distinct_keys(self, schema: str, table: str, keys: t.Sequence[str]) -> int: ...
    def columns(self, schema: str, table: str) -> set[str]: ...
    def tables(self, schema: str) -> set[str]: ...
    def keys(self, schema: str, table: str, keys: t.Sequence[str]) -> set[tuple[t.Any, ...]]: ...


def assert_rows_match(warehouse: Warehouse, profile: TapProfile, expected: dict[str, int]) -> None:
    """Each table holds exactly `expected` rows, each primary key once."""
    for table, rows in expected.items():
        keys = profile.table_keys[table]
        count = warehouse.count(profile.schema, table)
        assert count == rows, f"{table}: {count} rows in {warehouse.loader}, {rows} expected"
        distinct = warehouse.distinct_keys(profile.schema, table, keys)
        assert distinct == rows, f"{table}: {distinct} distinct keys in {warehouse.loader}, {rows} expected"


class DuckDBWarehouse:
    """A target-duckdb file (the target lower-cases column names)."""

    loader = "target-duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path

    def env(self) -> dict[str, str]:
        return {"TARGET_DUCKDB_FILEPATH": str(self.path)}

    def _query(self, sql: str, params: list[t.Any] | None = None) -> list[tuple[t.Any, ...]]:
        with duckdb.connect(str(self.path), read_only=True) as db:
            return db.execute(sql, params or []).fetchall()

    def count(self, schema: str, table: str) -> int:
        return int(self._query(f'select count(*) from "{schema}"."{table}"')[0][0])

    def distinct_keys(self, schema: str, table: str, keys: t.Sequence[str]) -> int:
        columns = ", ".join(f'"{k.lower()}"' for k in keys)
        return int(self._query(f'select count(*) from (select distinct {columns} from "{schema}"."{table}")')[0][0])

    def columns(self, schema: str, table: str) -> set[str]:
        rows = self._query(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        )
        return {r[0].lower() for r in rows}

    def tables(self, schema: str) -> set[str]:
        rows = self._query("select table_name from information_schema.tables where table_schema = ?", [schema])
        return {r[0] for r in rows}

    def keys(self, schema: str, table: str, keys: t.Sequence[str]) -> set[tuple[t.Any, ...]]:
        if not self.path.exists() or table not in self.tables(schema):
            return set()
        columns = ", ".join(f'"{k.lower()}"' for k in keys)
        return set(self._query(f'select {columns} from "{schema}"."{table}"'))


class PostgresWarehouse:
    """A schema in the throwaway PostgreSQL server (meltanolabs-target-postgres keeps column case)."""

    loader = "target-postgres"

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def env(self) -> dict[str, str]:
        return self.server.target_env()

    def count(self, schema: str, table: str) -> int:
        return int(self.server.query(f'select count(*) from "{schema}"."{table}"')[0][0])

    def distinct_keys(self, schema: str, table: str, keys: t.Sequence[str]) -> int:
        actual = {c.lower(): c for c in self._raw_columns(schema, table)}
        columns = ", ".join(f'"{actual[k.lower()]}"' for k in keys)
        sql = f'select count(*) from (select distinct {columns} from "{schema}"."{table}") d'
        return int(self.server.query(sql)[0][0])

    def _raw_columns(self, schema: str, table: str) -> set[str]:
        rows = self.server.query(
            f"select column_name from information_schema.columns where table_schema = '{schema}' "
            f"and table_name = '{table}'"
        )
        return {r[0] for r in rows}

    def columns(self, schema: str, table: str) -> set[str]:
        return {c.lower() for c in self._raw_columns(schema, table)}

    def tables(self, schema: str) -> set[str]:
        rows = self.server.query(f"select table_name from information_schema.tables where table_schema = '{schema}'")
        return {r[0] for r in rows}

    def keys(self, schema: str, table: str, keys: t.Sequence[str]) -> set[tuple[t.Any, ...]]:
        if table not in self.tables(schema):
            return set()
        actual = {c.lower(): c for c in self._raw_columns(schema, table)}
        columns = ", ".join(f'"{actual[k.lower()]}"' for k in keys)
        return set(self.server.query(f'select {columns} from "{schema}"."{table}"'))

class JsonlWarehouse:
    """target-jsonl's directory: one `<stream>.jsonl` per table, appended to (the schema is not used)."""

    loader = "target-jsonl"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def env(self) -> dict[str, str]:
        return {"TARGET_JSONL_DESTINATION_PATH": str(self.directory), "TARGET_JSONL_DO_TIMESTAMP_FILE": "false"}

    def _records(self, table: str) -> t.Iterator[dict[str, t.Any]]:
        with (self.directory / f"{table}.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)

    def count(self, schema: str, table: str) -> int:
        return sum(1 for _ in self._records(table))

    def distinct_keys(self, schema: str, table: str, keys: t.Sequence[str]) -> int:
        return len({json.dumps([record.get(k) for k in keys]) for record in self._records(table)})

    def columns(self, schema: str, table: str) -> set[str]:
        return {column.lower() for record in self._records(table) for column in record}

    def tables(self, schema: str) -> set[str]:
        return {path.stem for path in self.directory.glob("*.jsonl")}
