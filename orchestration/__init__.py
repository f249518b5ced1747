"""A Dagster code location that runs each tap's partitions as parallel Meltano runs (docs/scale-out.md)."""
