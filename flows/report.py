"""`botfleet-report`: the HTML report of the runs stored since the previous report
(`botfleet.jobs.report`); `period_hours` comes from the YAML's `report` schedule (24 for a
daily report, 168 for a weekly one). Sending it is the notifications issue's work."""

from __future__ import annotations

from botfleet.jobs import load_checked
from botfleet.jobs.report import report_recent
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque


@job_task("report", task_run_name="report {period_hours}h")
def render_report(fleet, period_hours: float) -> dict:
    return report_recent(fleet, period_hours)


@job_flow("report")
def report(fleet: str, period_hours: float = 24.0) -> dict:
    """Render the runs of the last `period_hours` into DATA_DIR/reports/report-<time>.html."""
    if period_hours <= 0:
        raise ValueError(f"period_hours must be positive, not {period_hours!r}")
    f = load_checked(fleet).fleet
    rows, failed = fan_out([("report", render_report, (opaque(f), period_hours))])
    row = rows[0] if rows else {}
    summary = (f"report of {row['runs']} run(s): {row['path']}" if row.get("path")
               else row.get("detail", "report failed"))
    return finish("report", f.name, rows, failed, summary)


FLOW = report
