"""Backing up and restoring the state database while bots may be writing to it.

SQLite: the `sqlite3` online backup API copies a consistent snapshot page by page while other
connections keep writing (a file copy of a WAL database can catch it half-written). The copy is
written next to PATH and renamed into place, switched to a rollback journal so the backup is one
self-contained file, and checked with `PRAGMA quick_check`. Restore copies the backup's pages
into the live file the same way, so open connections see the restored data at their next
transaction.

PostgreSQL: `pg_dump -Fc` of the URL's schema (`current_schema()`: `public`, or the one a
`search_path` option names) and `pg_restore --clean --if-exists`, when those client tools are on
PATH; otherwise a clear error. The password goes to them in `PGPASSWORD`, never on the command
line, and never into a message.

Restore refuses to overwrite a database that holds any rows unless `force=True`, and refuses a
file that is not a botfleet state database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from botfleet.storage.db import current_revision, state_engine, transaction
from botfleet.storage.migrations.options import VERSION_TABLE
from botfleet.storage.urls import StateDatabaseError, is_memory, parse_url, redact, scrub

_NOT_DATA = {VERSION_TABLE, "alembic_version"}  # version tables say nothing about data


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    backend: str  # sqlite or postgresql
    revision: str | None  # the schema revision the backup holds
    size: int  # bytes


def _target(url: str | URL) -> URL:
    parsed = parse_url(url)
    if is_memory(parsed):
        raise StateDatabaseError("an in-memory SQLite database cannot be backed up or restored")
    return parsed


def has_data(url: str | URL) -> bool:
    """Whether any table of the database (of its schema, on PostgreSQL) holds a row."""
    engine = state_engine(url)
    try:
        with transaction(engine) as conn:
            for table in sa.inspect(conn).get_table_names():
                if table not in _NOT_DATA and conn.execute(
                        sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first():
                    return True
        return False
    finally:
        engine.dispose()


def backup(url: str | URL, path: Path, *, force: bool = False) -> BackupInfo:
    """Write a consistent backup of the state database at `url` to `path`."""
    parsed = _target(url)
    path = Path(path)
    if path.exists() and not force:
        raise StateDatabaseError(f"{path} exists; choose a new file or pass --force to "
                                 "overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "sqlite":
        source = Path(parsed.database)
        if not source.exists():
            raise StateDatabaseError(f"no state database at {source} to back up")
        _sqlite_backup(source, path)
    else:
        _pg_dump(parsed, path)
    return BackupInfo(path, parsed.get_backend_name(), current_revision(parsed),
                      path.stat().st_size)


def restore(url: str | URL, path: Path, *, force: bool = False) -> BackupInfo:
    """Replace the state database at `url` with the backup at `path`."""
    parsed = _target(url)
    path = Path(path)
    if not path.is_file():
        raise StateDatabaseError(f"{path}: no such backup file")
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        _check_sqlite_backup(path)
    if (not sqlite or Path(parsed.database).exists()) and has_data(parsed) and not force:
        raise StateDatabaseError(f"the state database {redact(parsed)!r} holds data; restoring "
                                 f"{path} would replace it: pass --force to do so")
    if sqlite:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(path, Path(parsed.database))
    else:
        _pg_restore(parsed, path)
    return BackupInfo(path, parsed.get_backend_name(), current_revision(parsed),
                      path.stat().st_size)


# -- SQLite -------------------------------------------------------------------------------------
def _sqlite_copy(source: Path, dest: Path) -> None:
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(dest, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StateDatabaseError(f"copying {source} to {dest} failed: {exc}") from None
    finally:
        src.close()


def _sqlite_backup(source: Path, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _sqlite_copy(source, partial)
        conn = sqlite3.connect(partial)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
        if check != "ok":
            raise StateDatabaseError(f"the backup of {source} failed its check: {check}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _check_sqlite_backup(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (VERSION_TABLE,)).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StateDatabaseError(f"{path} is not a SQLite state database backup ({exc})") from None
    if not found:
        raise StateDatabaseError(f"{path} is a SQLite file but not a botfleet state database "
                                 f"(it has no {VERSION_TABLE} table)")


# -- PostgreSQL ---------------------------------------------------------------------------------
def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StateDatabaseError(
            f"{name} is not on PATH: backing up or restoring a PostgreSQL state database needs "
            "the PostgreSQL client tools (e.g. `apt install postgresql-client`), at least as new "
            "as the server")
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq connection URI without the password, and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _schema(url: URL) -> str:
    engine = state_engine(url)
    try:
        with transaction(engine) as conn:
            return conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    finally:
        engine.dispose()


def _run(argv: list[str], env: dict[str, str], url: URL, what: str) -> None:
    # bandit B603: pg_dump/pg_restore by path, no shell
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # nosec B603
    if done.returncode:
        reason = scrub(done.stderr.strip() or f"exit status {done.returncode}", url)
        raise StateDatabaseError(f"{what} of {redact(url)!r} failed: {reason}")


def _pg_dump(url: URL, path: Path) -> None:
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(url)
    partial = path.with_name(path.name + ".partial")
    try:
        _run([pg_dump, "--format=custom", f"--schema={_schema(url)}", "--no-owner",
              f"--file={partial}", f"--dbname={uri}"], env, url, "pg_dump")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _pg_restore(url: URL, path: Path) -> None:
    pg_restore = _tool("pg_restore")
    uri, env = _libpq(url)
    # bandit B603: pg_restore by path, no shell
    listing = subprocess.run([pg_restore, "--list", str(path)], capture_output=True, text=True,  # nosec B603
                             check=False)
    if listing.returncode or f" {VERSION_TABLE} " not in listing.stdout:
        raise StateDatabaseError(f"{path} is not a pg_dump archive of a botfleet state database"
                                 + (f" ({listing.stderr.strip()})" if listing.stderr else ""))
    _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
          f"--dbname={uri}", str(path)], env, url, "pg_restore")
