"""The report job: one HTML page of the runs stored since the previous report.

Runs are what the state database keeps (`storage.results`): backtests, and the best run of
each optimisation and walk-forward. The newest run of each bot and kind within the period is
shown, side by side, by `reports.render_comparison_html`. Sending the page is the
notifications issue's work; this job writes it and says where.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
