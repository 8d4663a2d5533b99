"""`botfleet notify …`: try a channel, list the channels, run the notifier as a bus reader.

`notify test CHANNEL` is how a user finds out, before a stop is hit at night, that the
Telegram token is wrong: it sends one message through the real channel and exits 0 when the
channel took it, 1 with the channel's (masked) error when it did not, 2 for a channel the
fleet does not define (the message lists those it does).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

notify_app = typer.Typer(help="Notifications: test a channel, list channels, run the notifier.",
                         no_args_is_help=True)
FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")


def _fleet(path: Path | None):
    from botfleet.cli import _load, _print_problems

    load = _load(path)
    if not load.ok:
        _print_problems(load)
        typer.echo(f"invalid: {len(load.errors)} error(s)", err=True)
        raise typer.Exit(1)
    return load.fleet


def _fail(message: str, code: int) -> None:
    from botfleet.obs.masking import mask

    typer.echo(f"botfleet: {mask(message)}", err=True)
    raise typer.Exit(code)


@notify_app.command("test")
def test(channel: str = typer.Argument(..., help="Channel name (as in the notifier's "
                                       "`channels:`; notifier.channel when two share a name)."),
         fleet_path: Path | None = FLEET_OPT,
         message: str = typer.Option("Test message from botfleet: this channel works.",
                                     "--message", "-m", help="Text to send."),
         retries: int = typer.Option(0, "--retries", help="Retries on failure (default 0: "
                                     "a test should answer at once).")) -> None:
    """Send one message through CHANNEL and say whether it was delivered."""
    from botfleet.notify import TemplateError, UnknownChannel, send_message

    fleet = _fleet(fleet_path)
    try:
        report = send_message(fleet, "botfleet test", message, event_type="*",
                              channels=[channel], retries=retries)
    except UnknownChannel as exc:
        _fail(str(exc), 2)
    except TemplateError as exc:
        _fail(str(exc), 1)
    if report.failed:
        (key, reason), = report.failed.items()
        _fail(f"channel {key}: not delivered: {reason}", 1)
    typer.echo(f"channel {report.sent[0]}: delivered")


@notify_app.command("channels")
def channels(fleet_path: Path | None = FLEET_OPT) -> None:
    """List the channels, whether each can send, and why not (URLs are never shown)."""
    from botfleet.notify import NotifyPlan

    plan = NotifyPlan.from_fleet(_fleet(fleet_path))
    if not plan.channels:
        typer.echo("no notification channels (the fleet lists no notifier)")
    for spec in plan.channels.values():
        state = "enabled" if spec.enabled else f"disabled: {spec.disabled}"
        typer.echo(f"{spec.key:<20} {spec.notifier:<12} {spec.ref:<36} {state}")


@notify_app.command("run")
def run(fleet_path: Path | None = FLEET_OPT,
        group: str = typer.Option("notifier", "--group", help="Consumer group on the bus."),
        consumer: str | None = typer.Option(None, "--consumer", help="Consumer name "
                                            "(default: notifier-HOST-PID)."),
        cache: str | None = typer.Option(None, "--cache", help="Bus URL (default: the fleet's "
                                         "storage.cache; memory:// reaches only this process)."),
        prefix: str = typer.Option("botfleet:", "--prefix", help="Bus key prefix (the "
                                   "runner's default; change it only if the fleet does)."),
        seconds: float | None = typer.Option(None, "--seconds", help="Stop after this long "
                                             "(default: until Ctrl-C or SIGTERM).")) -> None:
    """Route the fleet's events from the bus to the channels until stopped."""
    from botfleet.bus import open_bus
    from botfleet.notify import run_notifier

    fleet = _fleet(fleet_path)
    bus = open_bus(cache or fleet.storage.cache, prefix=prefix)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    if seconds is not None:
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()
    try:
        notifier = run_notifier(fleet, bus, group=group, consumer=consumer, stop=stop)
    finally:
        bus.close()
    s = notifier.stats
    typer.echo(f"notifier stopped: {s.routed} routed, {sum(s.sent.values())} sent, "
               f"{sum(s.failed.values())} failed, {s.repeated} repeats, {s.dropped} dropped")
