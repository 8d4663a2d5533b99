"""`botfleet ui`: the Streamlit control panel; `botfleet ui hash-password` makes a login hash.

The panel is `ui/app.py` of the source tree (found next to `src/`, or at BOTFLEET_UI_APP), run
by `streamlit run` in a child process with the fleet passed as BOTFLEET_UI_FLEET. It refuses
to start without a login: a password hash in the environment (see `botfleet.access`),
Streamlit's OIDC login (`[auth]` in .streamlit/secrets.toml), or `--no-auth`, which is
accepted only on a loopback address so an open panel is never reachable from the network.
Exit codes: 0 stopped, 2 usage or login configuration error.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

ui_app = typer.Typer(help="The Streamlit control panel.", invoke_without_command=True)
APP_ENV = "BOTFLEET_UI_APP"


def app_path() -> Path:
    """ui/app.py beside the source tree (an installed botfleet points BOTFLEET_UI_APP at it)."""
    if os.environ.get(APP_ENV):
        return Path(os.environ[APP_ENV])
    return Path(__file__).resolve().parents[2] / "ui" / "app.py"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _oidc_configured(cwd: Path) -> bool:
    for secrets in (cwd / ".streamlit" / "secrets.toml",
                    Path.home() / ".streamlit" / "secrets.toml"):
        try:
            if any(line.strip() == "[auth]" or line.strip().startswith("[auth.")
                   for line in secrets.read_text(encoding="utf-8").splitlines()):
                return True
        except OSError:
            continue
    return False


class LaunchError(ValueError):
    """The panel cannot be started as asked (the message says what to set)."""


def ui_command(fleet_file: Path, *, port: int = 8501, host: str = "127.0.0.1",
               no_auth: bool = False, env: dict | None = None) -> tuple[list[str], dict]:
    """The `streamlit run` command and environment, after the login checks."""
    from botfleet.access import AccessError, role_hashes

    env = dict(os.environ if env is None else env)
    app = app_path()
    if not app.is_file():
        raise LaunchError(f"no Streamlit app at {app} (set {APP_ENV} to ui/app.py)")
    if not 0 < port < 65536:
        raise LaunchError(f"--port {port}: not a TCP port")
    try:
        hashes = role_hashes(env)
    except AccessError as exc:
        raise LaunchError(str(exc)) from None
    if no_auth:
        if not _loopback(host):
            raise LaunchError(f"--no-auth is refused on {host}: only on 127.0.0.1 (anyone who "
                              "reaches the port could kill or edit the fleet)")
        env["BOTFLEET_UI_NO_AUTH"] = "1"
    else:
        env.pop("BOTFLEET_UI_NO_AUTH", None)
        if not hashes and not _oidc_configured(Path.cwd()):
            raise LaunchError("no login configured: set BOTFLEET_UI_PASSWORD_HASH (operator) "
                              "and/or BOTFLEET_UI_VIEWER_HASH (read-only) to hashes from "
                              "'botfleet ui hash-password', configure Streamlit's OIDC login "
                              "([auth] in .streamlit/secrets.toml), or use --no-auth on "
                              "127.0.0.1")
    env["BOTFLEET_UI_FLEET"] = str(fleet_file.resolve())
    serve = app.with_name("serve.py")  # Streamlit's CLI, importing the pages' modules early
    launcher = [str(serve)] if serve.is_file() else ["-m", "streamlit"]
    cmd = [sys.executable, *launcher, "run", str(app), "--server.port", str(port),
           "--server.address", host, "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    return cmd, env


def start_ui(fleet_file: Path, *, port: int = 8501, host: str = "127.0.0.1",
             no_auth: bool = False) -> subprocess.Popen:
    cmd, env = ui_command(fleet_file, port=port, host=host, no_auth=no_auth)
    # bandit B603: argv from ui_command (this Python running streamlit on the bundled app)
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)  # nosec B603


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@ui_app.callback()
def ui(ctx: typer.Context,
       fleet: Path | None = typer.Option(None, "--fleet", help="Fleet file or folder "
                                         "(default: ./fleet.yaml)."),
       port: int = typer.Option(8501, "--port", envvar="BOTFLEET_UI_PORT",
                                help="Port to serve on."),
       host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
       no_auth: bool = typer.Option(False, "--no-auth", help="No login (127.0.0.1 only).")
       ) -> None:
    """Serve the control panel until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from botfleet.cli import _fleet_path

    try:
        cmd, env = ui_command(_fleet_path(fleet), port=port, host=host, no_auth=no_auth)
    except LaunchError as exc:
        typer.echo(f"botfleet: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"control panel: http://{host}:{port}"
               + (" (no login: local use only)" if no_auth else ""))
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)  # nosec B603 # ui_command
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped `botfleet ui` stops the panel too
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait(timeout=10)
    raise typer.Exit(0 if code in (0, -15) else code)


@ui_app.command("hash-password")
def hash_password_cmd(
        method: str = typer.Option("scrypt", "--method", help="scrypt or pbkdf2_sha256."),
        stdin: bool = typer.Option(False, "--stdin", help="Read the password from standard "
                                   "input (one line) instead of asking.")) -> None:
    """Print a hash for BOTFLEET_UI_PASSWORD_HASH / BOTFLEET_UI_VIEWER_HASH (the password is
    never echoed nor stored)."""
    from botfleet.access import AccessError, hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            typer.echo("botfleet: the passwords differ", err=True)
            raise typer.Exit(2)
    try:
        typer.echo(hash_password(password, method=method))
    except AccessError as exc:
        typer.echo(f"botfleet: {exc}", err=True)
        raise typer.Exit(2) from None
