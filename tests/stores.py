"""Candle-store factories for tests: real SQLite, PostgreSQL and chDB, each isolated per test.

PostgreSQL tests use a fresh schema in the `test` database on 127.0.0.1 (URL overridable with
BOTFLEET_TEST_PG_URL) and skip with the reason when the server is not there.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

PG_URL = os.environ.get("BOTFLEET_TEST_PG_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means: skip, saying why
        return f"PostgreSQL not reachable at {PG_URL}: {exc}"


def pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def make_store(kind: str, tmp_path):
    """A fresh store of `kind` and a cleanup callable."""
    from botfleet.data.store import open_store

    if kind == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / f'c-{uuid.uuid4().hex[:8]}.db'}")
        return store, store.close
    if kind == "postgresql":
        reason = pg_available()
        if reason:
            pytest.skip(reason)
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        store = open_store(pg_schema_url(schema))

        def cleanup():
            store.close()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

        return store, cleanup
    if kind == "chdb":
        pytest.importorskip("chdb", reason="chdb is not installed (extra: clickhouse)")
        try:
            import botfleet.data.store.clickhouse  # noqa: F401
        except ImportError as exc:
            pytest.skip(f"ClickHouse store unavailable: {exc}")
        store = open_store(f"chdb:///{tmp_path / f'ch-{uuid.uuid4().hex[:8]}'}")
        return store, store.close
    raise ValueError(kind)


STORE_KINDS = ("sqlite", "postgresql", "chdb")
