"""`botfleet-report`: the daily or weekly trading report (performance, trades, risk events, data
gaps) as HTML and PDF in DATA_DIR/reports, sent by email and Telegram through the fleet's
notifiers (`botfleet.jobs.report.report_period`), beside the page of research runs stored in the
same period (`report_recent`).

`period` is daily or weekly; `send=False` only writes the files. `period_hours` is what the
deployments built from the YAML's `report` schedule pass (24 for a daily schedule, 168 for a
weekly one): when given, it sets the runs page's span and makes the period weekly from 7 days up.
"""

from __future__ import annotations

from botfleet.jobs import load_checked
from botfleet.jobs.report import report_period, report_recent
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque

HOURS = {"daily": 24.0, "weekly": 168.0}


@job_task("report", task_run_name="report {period_hours}h")
def render_report(fleet, period_hours: float) -> dict:
    return report_recent(fleet, period_hours)


@job_task("report", task_run_name="trading report {period}")
def trading_report(fleet, period: str, send: bool) -> dict:
    return report_period(fleet, period, send=send)


@job_flow("report")
def report(fleet: str, period: str = "daily", send: bool = True,
           period_hours: float | None = None) -> dict:
    """The period's trading report (sent unless `send` is false) and its research runs page."""
    if period not in HOURS:
        raise ValueError(f"period must be daily or weekly, not {period!r}")
    if period_hours is not None:
        if period_hours <= 0:
            raise ValueError(f"period_hours must be positive, not {period_hours!r}")
        period = "weekly" if period_hours >= HOURS["weekly"] else "daily"
    hours = period_hours if period_hours is not None else HOURS[period]
    f = load_checked(fleet).fleet
    rows, failed = fan_out([("report", render_report, (opaque(f), hours)),
                            ("trading", trading_report, (opaque(f), period, send))])
    runs = next((r for r in rows if "runs" in r), {})
    trading = next((r for r in rows if "period" in r), {})
    parts = [f"report of {runs['runs']} run(s): {runs['path']}" if runs.get("path")
             else runs.get("detail", "runs report failed")]
    if trading:
        parts.append(f"{period} trading report: {trading['path']}"
                     + (" + PDF" if trading.get("pdf") else f" ({trading['pdf_note']})")
                     + f"; {trading['delivery']}")
    return finish("report", f.name, rows, failed, "; ".join(parts))


FLOW = report
