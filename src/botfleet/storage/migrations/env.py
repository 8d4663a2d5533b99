"""Alembic environment: migrate the connection `storage.db.upgrade` opened (or, when run with the
alembic CLI, an engine from `sqlalchemy.url`) under a lock, with botfleet's own version table."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from botfleet.storage.migrations.options import PG_MIGRATION_LOCK, context_options


def _run(connection) -> None:
    context.configure(connection=connection, **context_options())
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # a second process waits here, then finds the database at head
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": PG_MIGRATION_LOCK})
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from botfleet.storage.db import state_engine

    engine = state_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn.execution_options(write=True))
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("botfleet's migrations run against a database (no offline SQL mode)")
run_online()
