"""`botfleet db …`: migrate, inspect, back up and restore the state database.

The database is `--state URL`, else the fleet's `storage.state` (fleet.yaml, as `botfleet
backtest` reads it), else `sqlite:///data/state.db`. Exit codes: 0 done, 1 the database refused
or is behind (`current --check`), 2 usage error.
"""

from __future__ import annotations

from pathlib import Path

import typer

db_app = typer.Typer(help="The state database: migrations, backup and restore.",
                     no_args_is_help=True)

STATE_OPT = typer.Option(None, "--state", help="State database URL (default: the fleet's "
                         "storage.state, else sqlite:///data/state.db).")
FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")
FORCE_OPT = typer.Option(False, "--force", help="Overwrite what is there.")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"botfleet: {message}", err=True)
    raise typer.Exit(code)


def _url(state: str | None, fleet: Path | None) -> str:
    if state:
        return state
    from botfleet.cli_data import _fleet
    from botfleet.storage.urls import DEFAULT_STATE_URL

    loaded = _fleet(fleet, required=fleet is not None)
    return loaded.storage.state if loaded else DEFAULT_STATE_URL


def _missing_sqlite(url: str) -> str | None:
    """The path of a SQLite state database that does not exist yet (reading it would create
    an empty file), else None."""
    from botfleet.storage.urls import is_memory, parse_url

    parsed = parse_url(url)
    sqlite = parsed.get_backend_name() == "sqlite" and not is_memory(parsed)
    return parsed.database if sqlite and not Path(parsed.database).exists() else None


@db_app.command()
def upgrade(state: str | None = STATE_OPT, fleet: Path | None = FLEET_OPT,
            revision: str = typer.Option("head", "--revision", help="Target revision.")) -> None:
    """Migrate the state database to the newest schema (creating it if needed)."""
    from botfleet.storage import StateDatabaseError, current_revision, redact
    from botfleet.storage import upgrade as migrate

    url = _url(state, fleet)
    try:
        before = None if _missing_sqlite(url) else current_revision(url)
        after = migrate(url, revision)
    except StateDatabaseError as exc:
        _fail(str(exc))
    if before == after:
        typer.echo(f"{redact(url)}: already at revision {after}")
    else:
        typer.echo(f"{redact(url)}: migrated from {before or 'an empty database'} to {after}")


@db_app.command()
def current(state: str | None = STATE_OPT, fleet: Path | None = FLEET_OPT,
            check: bool = typer.Option(False, "--check", help="Exit 1 unless at the newest "
                                       "revision.")) -> None:
    """Show the state database's schema revision and whether it is the newest."""
    from botfleet.storage import StateDatabaseError, current_revision, head_revision, redact

    url = _url(state, fleet)
    head = head_revision()
    missing = _missing_sqlite(url)
    try:
        revision = None if missing else current_revision(url)
    except StateDatabaseError as exc:
        _fail(str(exc))
    if revision == head:
        typer.echo(f"{redact(url)}: revision {revision} (head)")
        return
    where = f"no database file at {missing}" if missing else (
        f"revision {revision}" if revision else "not migrated (no revision)")
    typer.echo(f"{redact(url)}: {where}; the newest is {head}: run `botfleet db upgrade`")
    if check:
        raise typer.Exit(1)


@db_app.command()
def backup(path: Path = typer.Argument(..., help="File to write the backup to."),
           state: str | None = STATE_OPT, fleet: Path | None = FLEET_OPT,
           force: bool = FORCE_OPT) -> None:
    """Back up the state database (SQLite: online backup; PostgreSQL: pg_dump -Fc)."""
    from botfleet.storage import StateDatabaseError, redact
    from botfleet.storage.backup import backup as run_backup

    url = _url(state, fleet)
    try:
        info = run_backup(url, path, force=force)
    except StateDatabaseError as exc:
        _fail(str(exc))
    typer.echo(f"backed up {redact(url)} (revision {info.revision}) to {info.path} "
               f"({info.size:,} bytes)")


@db_app.command()
def restore(path: Path = typer.Argument(..., help="Backup file written by `botfleet db "
                                        "backup`."),
            state: str | None = STATE_OPT, fleet: Path | None = FLEET_OPT,
            force: bool = typer.Option(False, "--force", help="Replace a database that holds "
                                       "data.")) -> None:
    """Replace the state database with a backup (refuses to overwrite data without --force)."""
    from botfleet.storage import StateDatabaseError, head_revision, redact
    from botfleet.storage.backup import restore as run_restore

    url = _url(state, fleet)
    try:
        info = run_restore(url, path, force=force)
    except StateDatabaseError as exc:
        _fail(str(exc))
    note = "" if info.revision == head_revision() else (
        f"; the newest revision is {head_revision()}: run `botfleet db upgrade`")
    typer.echo(f"restored {redact(url)} from {info.path} (revision {info.revision}){note}")
