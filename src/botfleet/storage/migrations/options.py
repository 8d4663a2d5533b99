"""The migration-context options shared by `env.py` (migrating) and `db.schema_diff` (checking),
so the check compares exactly what the migrations manage."""

from __future__ import annotations

from typing import Any

# Not Alembic's default `alembic_version`: Optuna's RDB storage keeps its own revision there.
VERSION_TABLE = "botfleet_alembic_version"
PG_MIGRATION_LOCK = 0x626F74666C656574  # "botfleet": the advisory-lock key of migrations


def _ours(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Only botfleet's tables: the state database also holds Optuna's (and, in tests, other
    projects' or the candle store's), which these migrations must neither drop nor diff."""
    from botfleet.storage.models import Base

    if type_ == "table":
        return name in Base.metadata.tables
    table = parent_names.get("table_name")
    return table is None or table in Base.metadata.tables


def context_options() -> dict[str, Any]:
    from botfleet.storage.models import Base

    return {
        "target_metadata": Base.metadata,
        "version_table": VERSION_TABLE,
        "include_name": _ours,
        "compare_type": True,
        "compare_server_default": True,
    }
