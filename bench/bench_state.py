"""A fresh state database for a benchmark: a SQLite file, or a schema of its own in the
PostgreSQL `test` database (dropped by the returned callable), so runs never see each other's
rows. Shared by the ledger, reconciliation and risk benchmarks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

PG = os.environ.get("BOTFLEET_TEST_PG_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def state_url(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """(url, drop) for kind 'sqlite' or 'postgresql'."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'state-{uuid.uuid4().hex[:8]}.db'}", lambda: None
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{PG}?options={quote(f'-csearch_path={schema}')}", drop
