"""`botfleet plan`, `botfleet apply`, `botfleet up`: the fleet's schedules as Prefect deployments.

`plan` shows, like a diff, what `apply` would create, change and remove on the Prefect server at
PREFECT_API_URL; `apply` does it (deployments on a process work pool, for workers); `up` serves
every deployment from this process against the embedded Prefect server (or PREFECT_API_URL's),
with the UI beside it when `ui/` has one. Prefect is imported only once a command runs, so the
rest of the CLI stays fast. Exit codes: 0 done, 1 invalid fleet or Prefect server trouble.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import typer

FLEET_ARG = typer.Argument(None, help="Fleet file or folder (default: ./fleet.yaml).",
                           show_default=False)
POOL_OPT = typer.Option("botfleet", "--pool", help="Process work pool the workers poll "
                        "(created by apply if missing).")
FLEET_REF_OPT = typer.Option(None, "--fleet-on-workers", help="The fleet file's path as the "
                             "workers see it (default: this file's absolute path).")
CODE_OPT = typer.Option(None, "--code-on-workers", help="The folder holding flows/ as the "
                        "workers see it (default: this checkout's).")


def _fleet(path: Path | None):
    from botfleet.cli import _load, _print_problems

    load = _load(path)
    if not load.ok:
        _print_problems(load)
        typer.echo(f"invalid: {len(load.errors)} error(s); nothing to plan", err=True)
        raise typer.Exit(1)
    return load.fleet


def _fail(exc: Exception) -> None:
    typer.echo(f"botfleet: {exc}", err=True)
    raise typer.Exit(1)


def plan(path: Path | None = FLEET_ARG, pool: str = POOL_OPT,
         fleet_on_workers: str | None = FLEET_REF_OPT) -> None:
    """Show which Prefect deployments apply would create (+), change (~) or remove (-)."""
    fleet = _fleet(path)
    from botfleet import orchestration as orch

    try:
        result = orch.plan(fleet, pool=pool, fleet_ref=fleet_on_workers)
    except orch.OrchestrationError as exc:
        _fail(exc)
    typer.echo(f"Prefect server {orch.api_url()}, fleet {fleet.name}, work pool {pool}:")
    for line in result.lines():
        typer.echo(line)


def apply(path: Path | None = FLEET_ARG, pool: str = POOL_OPT,
          fleet_on_workers: str | None = FLEET_REF_OPT,
          code_on_workers: str | None = CODE_OPT) -> None:
    """Make the deployments on the Prefect server at PREFECT_API_URL match the YAML."""
    fleet = _fleet(path)
    from botfleet import orchestration as orch

    try:
        result = orch.apply(fleet, pool=pool, fleet_ref=fleet_on_workers,
                            code_dir=code_on_workers)
    except (orch.OrchestrationError, RuntimeError) as exc:
        _fail(exc)
    for line in result.lines():
        typer.echo(line)
    typer.echo(f"applied to {orch.api_url()}; workers run them: "
               f"prefect worker start --pool {pool} --type process")


def _start_ui(port: int, fleet=None) -> subprocess.Popen | None:
    """The control panel beside the flows (`botfleet ui`'s launcher and login checks); a panel
    that cannot start (no login configured) is reported, the flows are served anyway."""
    from botfleet.cli_ui import LaunchError, start_ui

    fleet_file = Path(fleet.path) if fleet is not None else Path("fleet.yaml")
    try:
        proc = start_ui(fleet_file, port=port)
    except LaunchError as exc:
        typer.echo(f"UI not started: {exc}; the Prefect UI above shows every run")
        return None
    typer.echo(f"UI: http://127.0.0.1:{port}")
    return proc


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def up(path: Path | None = FLEET_ARG,
       port: int = typer.Option(4200, "--port", help="Port of the embedded Prefect server."),
       ui_port: int = typer.Option(8501, "--ui-port", help="Port of the Streamlit UI."),
       ui: bool = typer.Option(True, "--ui/--no-ui", help="Start the UI beside the flows.")
       ) -> None:
    """Serve every deployment of the fleet from this process, on the embedded Prefect server
    (or the one at PREFECT_API_URL), until Ctrl-C."""
    fleet = _fleet(path)
    from botfleet.localserver import LocalServer, ServerError

    signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly (the server too) while starting
    server = None
    try:
        if not os.environ.get("PREFECT_API_URL"):
            try:
                server = LocalServer(port=port)
                server.start()
            except (ServerError, ValueError) as exc:
                _fail(exc)
            os.environ["PREFECT_API_URL"] = server.api_url
            typer.echo(f"Prefect server (embedded, history in {server.home}): {server.url}")
        else:
            typer.echo(f"Prefect server: {os.environ['PREFECT_API_URL']}")
        _serve(fleet, ui, ui_port)
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        if server is not None:
            server.stop()


def _serve(fleet, ui: bool, ui_port: int) -> None:
    from botfleet import orchestration as orch
    from botfleet.deployments import deployments_for

    specs = deployments_for(fleet)
    ui_proc = _start_ui(ui_port, fleet) if ui else None
    try:
        for name in orch.remove_stale(fleet, specs):
            typer.echo(f"- {name} (no longer in the YAML: removed)")
        for spec in specs:
            when = spec.schedule.describe() if spec.schedule else "on demand"
            typer.echo(f"serving {spec.full_name}: {when}")
        orch.serve_all(specs, on_ready=lambda: typer.echo("ready; Ctrl-C stops"))
        typer.echo("stopped")
    except KeyboardInterrupt:
        typer.echo("stopped")
    except orch.OrchestrationError as exc:
        _fail(exc)
    finally:
        if ui_proc is not None:
            ui_proc.terminate()
            ui_proc.wait(timeout=10)
