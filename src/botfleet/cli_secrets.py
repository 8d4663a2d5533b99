"""`botfleet secrets …`: manage the fleet's secret store without a value ever on screen.

The store is the one the fleet's `secrets:` block names: the encrypted file (provider `file`)
or Prefect Secret blocks (provider `prefect`); `--file` picks an encrypted file directly.
`set` reads the value from the terminal with echo off (asked twice) or from standard input
when piped (`pass show binance | botfleet secrets set binance-key`), never from an argument,
which would land in the shell's history and the process list. `list` shows names only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from botfleet.cli_research import fail

secrets_app = typer.Typer(help="Manage secrets in the fleet's secret store (values are never "
                          "shown).", no_args_is_help=True)
FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder whose secrets: block "
                         "names the store (default: ./fleet.yaml).")
FILE_OPT = typer.Option(None, "--file", help="An encrypted secrets file to use instead of the "
                        "fleet's store.")
KEY_ENV_OPT = typer.Option(None, "--key-env", help="Environment variable holding the file's "
                           "key (default: the fleet's secrets.key_env, else "
                           "BOTFLEET_SECRETS_KEY).")


def _store(fleet: Path | None, file: Path | None, key_env: str | None):
    from botfleet.config.secrets import DEFAULT_KEY_ENV, EncryptedFileStore, SecretsSettings

    if file is not None:
        return EncryptedFileStore(file, key_env or DEFAULT_KEY_ENV)
    from botfleet.cli import _fleet_path
    from botfleet.config import load_fleet

    load = load_fleet(_fleet_path(fleet))
    if load.fleet is None:
        for problem in load.errors:
            typer.echo(str(problem), err=True)
        fail(f"the fleet has {len(load.errors)} error(s); fix them first (botfleet validate)")
    settings: SecretsSettings = load.fleet.secrets
    if settings.provider == "file":
        return EncryptedFileStore(settings.file, key_env or settings.key_env)
    if settings.provider == "prefect":
        return settings.store()
    where = ("set the environment variable" if settings.provider == "env" else
             "write a file per secret in the secrets directory")
    fail(f"{load.fleet.path}: secrets.provider is {settings.provider!r}, which botfleet does "
         f"not manage ({where}); use provider file or prefect, or give --file", 2)
    return None


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        value = typer.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read()
        value = value.removesuffix("\n")
        value = value.removesuffix("\r")
    if not value:
        fail(f"secret {name}: empty value (give it on standard input)", 2)
    return value


def _run(action):
    from botfleet.config.secrets import SecretMissing

    try:
        return action()
    except SecretMissing as exc:  # also SecretStoreError: wrong key, damaged file, bad name
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}", 2)
    return None


@secrets_app.command("set")
def set_secret(name: str = typer.Argument(..., help="The secret's name, as in ${secret:NAME}."),
               fleet: Path | None = FLEET_OPT, file: Path | None = FILE_OPT,
               key_env: str | None = KEY_ENV_OPT) -> None:
    """Store a secret; the value is read with echo off, or from standard input."""
    store = _store(fleet, file, key_env)
    from botfleet.config.secrets import check_name

    _run(lambda: check_name(name))
    value = _read_value(name)
    replaced = _run(lambda: store.set(name, value))
    typer.echo(f"secret {name} {'replaced' if replaced else 'added'} in {store.describe()}")


@secrets_app.command("list")
def list_secrets(fleet: Path | None = FLEET_OPT, file: Path | None = FILE_OPT,
                 key_env: str | None = KEY_ENV_OPT) -> None:
    """The names of the stored secrets (never their values)."""
    store = _store(fleet, file, key_env)
    names = _run(store.names)
    for name in names:
        typer.echo(name)
    if not names:
        typer.echo(f"no secrets in {store.describe()}", err=True)


@secrets_app.command("rm")
def remove_secret(name: str = typer.Argument(..., help="The secret's name."),
                  fleet: Path | None = FLEET_OPT, file: Path | None = FILE_OPT,
                  key_env: str | None = KEY_ENV_OPT) -> None:
    """Remove a secret from the store."""
    store = _store(fleet, file, key_env)
    _run(lambda: store.remove(name))
    typer.echo(f"secret {name} removed from {store.describe()}")


@secrets_app.command("keygen")
def keygen() -> None:
    """Print a new key for an encrypted secrets file: put it in the environment variable
    (BOTFLEET_SECRETS_KEY by default) of every machine that runs the fleet, and nowhere else."""
    from botfleet.config.secrets import generate_key

    typer.echo(generate_key())
