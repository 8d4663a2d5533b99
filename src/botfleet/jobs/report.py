"""The report jobs: the daily or weekly trading report, rendered and sent; and one HTML page of
the research runs stored since the previous report.

`report_period` gathers the period's trading (`reports.periodic`), writes it as HTML and PDF
into DATA_DIR/reports and sends it through `botfleet.notify.send_message` as a `daily_report`
event: the text summary is the message, the PDF and HTML are attachments (an email's files, a
Telegram document). It fails only when every channel that tried to deliver it failed, so a
retry cannot send twice to a channel that already got it; a channel the configuration leaves
disabled (an unresolved secret in its URL) is named in the result, not retried.

`report_recent`: runs are what the state database keeps (`storage.results`): backtests, and the
best run of each optimisation and walk-forward. The newest run of each bot and kind within the
period is shown, side by side, by `reports.render_comparison_html`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

KINDS = ("backtest", "optimize", "walkforward")


def report_recent(fleet, period_hours: float, *, now: datetime | None = None,
                  limit: int = 500) -> dict[str, Any]:
    from botfleet.reports.html import render_comparison_html
    from botfleet.storage.results import ResultStore

    if not period_hours or period_hours <= 0:
        raise ValueError(f"period_hours must be positive, got {period_hours!r}")
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=period_hours)
    with ResultStore(fleet.storage.state) as repo:
        newest: dict[tuple[str, str], Any] = {}
        for kind in KINDS:
            for run in repo.list_runs(kind=kind, limit=limit):  # newest first
                if run.created_at >= since:
                    newest.setdefault((kind, run.name), run)
        chosen = sorted(newest.values(), key=lambda r: (r.name, r.kind))
        results = [repo.get(r.id) for r in chosen]
    if not results:
        return {"runs": 0, "path": None,
                "detail": f"no run stored in the {period_hours:g} h before "
                          f"{now:%Y-%m-%d %H:%M} UTC"}
    out = fleet.data_dir / "reports" / f"report-{now:%Y%m%d-%H%M}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    render_comparison_html(results, out, title=f"{fleet.name}: runs of the last "
                                               f"{period_hours:g} h")
    return {"runs": len(results), "path": str(out), "run_ids": [r.id for r in chosen],
            "bots": sorted({r.name for r in chosen})}


class ReportNotDelivered(RuntimeError):
    """Every channel routed the report refused it (the job's retry may get it through)."""


def report_period(fleet, period: str = "daily", *, now: datetime | None = None,
                  send: bool = True, pdf: bool = True) -> dict[str, Any]:
    """Render the `period` (daily | weekly) ending `now` and, if `send`, deliver it."""
    from botfleet.reports.periodic import (
        gather,
        period_summary,
        period_window,
        title,
        write_period_report,
    )

    window = period_window(period, now)
    report = gather(fleet, window)
    html_path, pdf_path, pdf_note = write_period_report(report, fleet.data_dir / "reports",
                                                        pdf=pdf)
    summary = period_summary(report)
    row: dict[str, Any] = {
        "period": period, "start_ms": window.start_ms, "end_ms": window.end_ms,
        "path": str(html_path), "pdf": str(pdf_path) if pdf_path else None,
        "pdf_note": pdf_note, "empty": report.empty, "summary": summary,
        "trades": sum(len(b.trades) for b in report.bots),
        "realised": str(sum((b.realised for b in report.bots), Decimal(0))),
        "sent": [], "failed": {}, "delivery": "not sent (send=False)"}
    if not send:
        return row
    try:
        from botfleet.notify import send_message
    except ImportError:
        row["delivery"] = "not sent: botfleet.notify is not installed in this version"
        return row
    files = [p for p in (pdf_path, html_path) if p is not None]
    delivery = send_message(fleet, title(report), summary, event_type="daily_report",
                            severity="info", attachments=files)
    row.update(sent=list(delivery.sent), failed=dict(delivery.failed))
    tried = {ch: why for ch, why in delivery.failed.items()
             if not str(why).startswith("disabled:")}
    if tried and not delivery.sent:
        raise ReportNotDelivered("the report reached no channel: " + "; ".join(
            f"{ch}: {why}" for ch, why in delivery.failed.items()))
    failures = "; ".join(f"{ch}: {why}" for ch, why in delivery.failed.items())
    if delivery.sent:
        row["delivery"] = f"sent to {', '.join(delivery.sent)}" + (
            f"; failed: {failures}" if failures else "")
    else:
        row["delivery"] = (f"not delivered: {failures}" if failures
                           else "no channel routes daily_report events")
    return row
