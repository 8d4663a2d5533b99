"""`botfleet-ingest`: every candle series the fleet needs, downloaded incrementally (from the
last stored candle on), then checked for data quality. One task per series, retried with
backoff; the flow fails if a series still fails, after the others are done."""

from __future__ import annotations

from botfleet.jobs import load_checked
from botfleet.jobs.ingest import needs, refresh, transient
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque


@job_task("ingest", retry_if=transient,
          task_run_name="ingest {need.exchange} {need.symbol} {need.timeframe}")
def ingest_series(fleet, need) -> dict:
    return refresh(fleet, need)


@job_flow("ingest")
def ingest(fleet: str) -> dict:
    """Download what is missing of every series the fleet's enabled bots need, then check it."""
    f = load_checked(fleet).fleet
    wanted = needs(f)
    rows, failed = fan_out([
        (f"{n.exchange} {n.symbol} {n.timeframe}", ingest_series, (opaque(f), n)) for n in wanted])
    written = sum(r["written"] for r in rows)
    flagged = sum(1 for r in rows if not r["quality_ok"] or r["unfilled_gaps"])
    return finish("ingest", f.name, rows, failed,
                  f"{len(rows)}/{len(wanted)} series up to date, {written} candle(s) written, "
                  f"{flagged} with quality findings")


FLOW = ingest
