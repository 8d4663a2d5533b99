"""`botfleet report`: the daily or weekly trading report now, outside the schedule: what the
`report` flow renders and sends (`jobs.report.report_period`), for a first look after setting
up the notifiers, or a report missed while the stack was down (`--end`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from botfleet.cli_research import fail


def report(fleet: Path | None = typer.Option(None, "--fleet", help="Fleet file or folder "
                                              "(default: ./fleet.yaml)."),
           period: str = typer.Option("daily", "--period", help="daily (24 h) or weekly "
                                      "(7 days)."),
           end: str | None = typer.Option(None, "--end", help="The period's end, "
                                          "YYYY-MM-DD[THH:MM] UTC (default: now)."),
           send: bool = typer.Option(True, "--send/--no-send", help="Deliver it through the "
                                     "fleet's notifiers (a daily_report event)."),
           pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print it to PDF "
                                    "(needs Chromium).")) -> None:
    """Render the trading report of a period (HTML, PDF) and send it; prints where it is."""
    from botfleet.cli import _fleet_path
    from botfleet.jobs.common import JobError, load_checked
    from botfleet.jobs.report import ReportNotDelivered, report_period

    if period not in ("daily", "weekly"):
        fail(f"--period {period!r}: choose daily or weekly", 2)
    now = None
    if end is not None:
        try:
            parsed = datetime.fromisoformat(end)
            now = (parsed.replace(tzinfo=UTC) if parsed.tzinfo is None
                   else parsed.astimezone(UTC))
        except ValueError:
            fail(f"--end {end!r}: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)", 2)
    try:
        fleet_obj = load_checked(_fleet_path(fleet)).fleet
        row = report_period(fleet_obj, period, now=now, send=send, pdf=pdf)
    except JobError as exc:
        fail(str(exc))
    except ReportNotDelivered as exc:
        fail(str(exc))
    typer.echo(row["summary"])
    typer.echo(f"html: {row['path']}")
    typer.echo(f"pdf: {row['pdf'] or row['pdf_note']}")
    typer.echo(f"delivery: {row['delivery']}")
