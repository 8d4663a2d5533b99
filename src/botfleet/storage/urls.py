"""State-database URLs: one spelling per backend, and no password in any message.

The fleet's `storage.state` is a SQLAlchemy URL. Users write `postgresql://` or even
`postgres://` (what hosting providers print); the project's one PostgreSQL driver is psycopg 3,
so both become `postgresql+psycopg://` here, as the candle store does. Everything that reports a
URL goes through `redact`, because these URLs end up in logs, CLI output and bug reports.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_STATE_URL = "sqlite:///data/state.db"
BACKENDS = ("sqlite", "postgresql")
_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*):[^@/]*@")


class StateDatabaseError(RuntimeError):
    """The state database cannot be used; the message names the URL with the password hidden."""


def redact(url: str | URL) -> str:
    """The URL as text with any password replaced by `***` (also for strings that do not parse,
    since a mistyped URL still carries its secret)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _USERINFO_PASSWORD.sub(r"\1:***@", str(url))


def scrub(text: str, url: str | URL) -> str:
    """`text` (e.g. a driver's error message) with the URL's password removed, if it appears."""
    try:
        password = make_url(url).password if not isinstance(url, URL) else url.password
    except (ArgumentError, ValueError):
        password = None
    return text.replace(str(password), "***") if password else text


def parse_url(url: str | URL) -> URL:
    """A supported state-database URL, with PostgreSQL pinned to psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StateDatabaseError(
            f"state database URL {redact(url)!r} is not a valid SQLAlchemy URL ({exc}); "
            "expected sqlite:///path/state.db or postgresql+psycopg://user@host:5432/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in BACKENDS:
        raise StateDatabaseError(
            f"state database URL {redact(parsed)!r}: unsupported backend {backend!r}; "
            "the state database is SQLite or PostgreSQL")
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise StateDatabaseError(
            f"state database URL {redact(parsed)!r}: driver {parsed.get_driver_name()!r} is not "
            "installed; use postgresql+psycopg://")
    return parsed


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def ensure_sqlite_dir(url: URL) -> None:
    """Create the folder of a SQLite file (the default `data/state.db` lives in a folder that a
    fresh checkout does not have); SQLite itself only reports 'unable to open database file'."""
    if url.get_backend_name() != "sqlite" or is_memory(url):
        return
    try:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDatabaseError(
            f"state database {redact(url)!r}: cannot create its folder: {exc}") from None


def optuna_storage_url(state_url: str | URL = DEFAULT_STATE_URL) -> str:
    """The URL to give Optuna (`optuna.create_study(storage=...)`) so its studies live in the
    state database next to the backtest runs and can be resumed by name.

    Optuna's RDB storage creates its own tables (`studies`, `trials`, ...) and its own Alembic
    version table `alembic_version`; botfleet's migrations use `botfleet_alembic_version`, so
    both can be migrated in the same database without either seeing the other's revisions.
    The password is kept (Optuna must connect): do not log the result, log `redact(...)` of it.
    """
    parsed = parse_url(state_url)
    if is_memory(parsed):
        raise StateDatabaseError("an in-memory SQLite database cannot hold resumable studies")
    ensure_sqlite_dir(parsed)
    return parsed.render_as_string(hide_password=False)
