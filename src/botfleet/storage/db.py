"""Engines for the state database and its Alembic migrations, run from code.

The migrations ship inside the package (`storage/migrations/`) and the Alembic `Config` is built
here, so `upgrade(url)` works from an installed wheel with no `alembic.ini`. The migration runs on
a connection this module opens, inside one transaction that first takes a lock, so two processes
starting at once on a fresh database do not both create the tables:
- PostgreSQL: `pg_advisory_xact_lock` (taken in `migrations/env.py`), DDL is transactional;
- SQLite: `BEGIN IMMEDIATE` (the pysqlite driver is put in manual-transaction mode for that, the
  recipe SQLAlchemy documents), which also makes SQLite's DDL transactional.
Within one process the database lock is not enough: Alembic keeps the running migration in
module-level proxies (`alembic.context`, `alembic.op`), so two threads migrating at once, even
two different databases, overwrite each other's. `upgrade` therefore holds `_MIGRATING`, one
lock for the process, around everything, taken before the database's lock (a thread never waits
for it while holding SQLite's write lock).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from botfleet.storage.migrations.options import context_options
from botfleet.storage.urls import (
    StateDatabaseError,
    ensure_sqlite_dir,
    is_memory,
    parse_url,
    redact,
    scrub,
)

if TYPE_CHECKING:  # Alembic costs 0.4 s to import: only migrations load it (not the UI's reads)
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 30
_MIGRATING = threading.Lock()


def _sqlite_connect(dbapi_conn, _record) -> None:
    # manual transactions (see `_sqlite_begin`); foreign keys on, for ON DELETE CASCADE; WAL so
    # the UI can read while a runner writes
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    _set_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _set_wal(cur) -> None:
    """Switch to WAL, waiting for another process doing the same: the switch needs an
    exclusive lock and SQLite can answer 'database is locked' at once instead of calling the
    busy handler (seen when two processes open a fresh database together)."""
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write")
                         else "BEGIN")


def state_engine(url: str | URL) -> Engine:
    """An engine for the state database at `url` (see `urls.parse_url` for accepted forms);
    a `${env:..}` / `${secret:..}` in it (the password) is resolved here, at the moment of use."""
    if isinstance(url, str) and "${" in url:
        from botfleet.config.refs import resolve

        url = resolve(url)
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        ensure_sqlite_dir(parsed)
        extra = {"poolclass": StaticPool} if is_memory(parsed) else {}
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **extra)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction; `write=True` takes SQLite's write lock at BEGIN, so a writer waits for
    another writer instead of failing when it upgrades a read lock. Connection failures become
    a `StateDatabaseError` naming the (redacted) URL."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StateDatabaseError(f"cannot open the state database {redact(engine.url)!r}: "
                                 f"{scrub(reason, engine.url)}") from None
    with conn:
        if write:
            conn = conn.execution_options(write=True)
        with conn.begin():
            yield conn


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _with_engine(target: str | URL | Engine):
    return (target, False) if isinstance(target, Engine) else (state_engine(target), True)


def upgrade(target: str | URL | Engine, revision: str = "head") -> str | None:
    """Migrate the state database to `revision` (default: the newest); returns the revision it
    is at afterwards. Safe to call at every start: at head it only reads the version table."""
    from alembic import command

    engine, owned = _with_engine(target)
    try:
        with _MIGRATING, transaction(engine, write=True) as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, revision)
            except DBAPIError as exc:  # e.g. no right to create tables
                reason = scrub(str(exc.orig or exc).strip().splitlines()[0], engine.url)
                raise StateDatabaseError(f"migrating the state database {redact(engine.url)!r} "
                                         f"to {revision} failed: {reason}") from exc
            return _current(conn)
    finally:
        if owned:
            engine.dispose()


def _migration_context(conn: Connection) -> MigrationContext:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn, opts=context_options())


def _current(conn: Connection) -> str | None:
    return _migration_context(conn).get_current_revision()


def current_revision(target: str | URL | Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    engine, owned = _with_engine(target)
    try:
        with transaction(engine) as conn:
            return _current(conn)
    finally:
        if owned:
            engine.dispose()


def schema_diff(target: str | URL | Engine) -> list:
    """What Alembic's autogenerate finds between the models and the database (an empty list when
    the migrations produce exactly the models). Tables that are not botfleet's (Optuna's, the
    candle store's) are ignored."""
    from alembic.autogenerate import compare_metadata  # a check, not needed to run

    from botfleet.storage.models import Base

    engine, owned = _with_engine(target)
    try:
        with transaction(engine) as conn:
            return compare_metadata(_migration_context(conn), Base.metadata)
    finally:
        if owned:
            engine.dispose()
