"""`botfleet telegram`: run the Telegram control bot in the foreground.

It needs the fleet's `control.telegram` block (token as a `${env:…}`/`${secret:…}` reference,
the allowed chat ids) and reaches the fleet only through its state database and bus, so it can
run beside the runner, in another container, or on another host sharing the database.
"""

from __future__ import annotations

from pathlib import Path

import typer

from botfleet.cli_research import fail


def telegram(fleet: Path | None = typer.Option(None, "--fleet", help="Fleet file or folder "
                                               "(default: ./fleet.yaml)."),
             state: str | None = typer.Option(None, "--state", help="State database URL "
                                              "(default: the fleet's storage.state)."),
             cache: str | None = typer.Option(None, "--cache", help="Bus URL the runners "
                                              "listen on (default: the fleet's "
                                              "storage.cache).")) -> None:
    """Run the Telegram control bot until Ctrl-C: /status, /pnl, /pause, /kill … from the
    allowed chats only."""
    import logging

    from botfleet.cli import _fleet_path
    from botfleet.config import load_fleet
    from botfleet.notify.telegram.app import (
        TelegramConfigError,
        TelegramControl,
        TelegramStartError,
    )

    load = load_fleet(_fleet_path(fleet))
    if not load.ok:
        for problem in load.errors[:10]:
            typer.echo(str(problem), err=True)
        fail(f"the fleet has {len(load.errors)} error(s); fix them first", 2)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s "
                            "%(name)s: %(message)s")
    try:
        control = TelegramControl.from_fleet(load.fleet, state_url=state, cache_url=cache)
    except TelegramConfigError as exc:
        fail(str(exc), 2)
    typer.echo(f"Telegram control for fleet {load.fleet.name} via {control.api} "
               f"(Ctrl-C stops)")
    try:
        control.run_foreground()
    except TelegramStartError as exc:
        fail(str(exc))
