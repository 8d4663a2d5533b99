"""Strategy lab: run a bot's backtest, optimisation or walk-forward; compare stored runs.

A run is `botfleet.jobs.research.run_job`, the job behind the `research` Prefect flow. With
PREFECT_API_URL set, the page runs the flow itself (so the run shows in the Prefect UI);
without, it calls the job function directly in this process (no Prefect server needed) and
says so. Results are read back from the state database (`storage.results.ResultStore`).
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from datetime import time as dtime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from panel import auth, context, research
from panel.fmt import metric, when

from botfleet.data.candles import timeframe_ms
from botfleet.jobs.research import JOBS
from botfleet.sim.metrics import METRIC_INFO
from botfleet.storage.results import ResultStore, RunNotFound

ctx = context.current()
context.need_fleet(ctx)
st.title("Strategy lab")
if ctx.fleet is None:
    st.error("The lab needs a valid fleet (see the Config page).")
    st.stop()
via_prefect = bool(os.environ.get("PREFECT_API_URL"))
st.caption("Runs go through the Prefect `research` flow at PREFECT_API_URL." if via_prefect
           else "No PREFECT_API_URL: runs call the research job directly in the panel's "
           "process (the same function the Prefect flow runs).")

fleet = ctx.fleet
c1, c2, c3 = st.columns(3)
bot = c1.selectbox("Bot", sorted(fleet.bots), key="lab_bot",
                   help="The run uses its exchange, capital and fill model.")
cfg = fleet.bots[bot]
own = f"{cfg.strategy} (the bot's)"
names = [own] + sorted(n for n in fleet.strategies if n != cfg.strategy)
picked = c2.selectbox("Strategy", names, key="lab_strategy")
strategy = None if picked == own else picked
job = c3.selectbox("Run", JOBS, key="lab_job")

stored = [s for s in research.series(ctx.fleet.storage.candles)
          if s["exchange"] == cfg.exchange]
pairs_known = sorted({s["pair"] for s in stored} | set(cfg.pairs))
d1, d2 = st.columns([3, 1])
pairs = d1.multiselect(f"Pairs ({cfg.exchange}, from the candle store)", pairs_known,
                       default=list(cfg.pairs), key="lab_pairs")
frames = sorted({s["timeframe"] for s in stored if s["pair"] in pairs} | {cfg.timeframe},
                key=timeframe_ms)
timeframe = d2.selectbox("Timeframe", frames, index=frames.index(cfg.timeframe),
                         key="lab_timeframe")
held = [s for s in stored if s["pair"] in pairs and s["timeframe"] == timeframe]
if held:
    lo = max(s["first"] for s in held)  # every chosen pair has candles from here...
    hi = min(s["last"] for s in held)  # ...to here
    first, last = (pd.Timestamp(x, unit="ms", tz="UTC").date() for x in (lo, hi))
    st.caption(f"Stored for all chosen pairs: {first} to {last} UTC.")
else:
    first = last = None
    st.caption(f"The candle store has no {timeframe} candles of "
               f"{', '.join(pairs) or 'these pairs'} on {cfg.exchange}: the run says what "
               "is missing.")
p1, p2 = st.columns(2)
start = p1.date_input("Start (UTC)", value=first, key="lab_start")
end = p2.date_input("End (UTC)", value=last, key="lab_end", help="Inclusive: to 23:59 UTC.")
declared = fleet.strategies[strategy or cfg.strategy].parameters
defaults = {**{k: v.default for k, v in declared.items()},
            **({} if strategy else dict(cfg.parameters))}
text = st.text_area("Parameter overrides (name=value, one per line)", key="lab_params",
                    help="Declared: " + (", ".join(f"{k}={v}" for k, v in defaults.items())
                                         or "none"), height=80)
problems = []
try:
    params = research.parse_params(text, declared)
except ValueError as exc:
    params, problems = {}, [str(exc)]
if start and end and start >= end:
    problems.append(f"Start {start} is not before end {end}.")
if not pairs:
    problems.append("Pick at least one pair.")
for p in problems:
    st.error(p)
inputs = {"pairs": pairs if sorted(pairs) != sorted(cfg.pairs) else None,
          "timeframe": timeframe if timeframe != cfg.timeframe else None,
          # the whole stored span is the bot's default period (its warm-up before the start)
          "start": start if start != first else None,
          "end": datetime.combine(end, dtime(23, 59)) if end and end != last else None,
          "params": params or None, "strategy": strategy}
inputs = {k: v for k, v in inputs.items() if v}
may = auth.operator()
if st.button("Run", key="lab_run", type="primary", disabled=not may or bool(problems)):
    bar = st.progress(0, text=f"{job} {bot}: starting")
    start_run = research.start_flow if via_prefect else research.start_direct
    run = start_run(str(ctx.path), bot, job, inputs)
    research.follow(run, bar)
    row = run.row or {}
    if run.error or not row.get("run_id"):
        bar.empty()
        st.error(run.error or f"{job} {bot}: no run was stored")
    else:
        bar.progress(100, text=f"{job} {bot}: done in {run.elapsed():.1f} s")
        st.session_state["lab_last"] = row.get("run_id")
        st.success(f"stored as run {row.get('run_id')}: "
                   + ", ".join(f"{k.replace('_', ' ')} {metric(k, v)}" for k, v in row.items()
                               if k not in ("bot", "job", "run_id", "strategy")))
if not may:
    st.caption("Read-only: running needs the operator role.")

with ResultStore(ctx.state_url) as repo:
    every = repo.list_runs(limit=2000)
    runs = [r for r in every if r.parent_id is None]  # an optimisation's trials sit under it
    trials: dict[int, list] = {}
    for r in every:
        if r.parent_id is not None:
            trials.setdefault(r.parent_id, []).append(r)
    if not runs:
        st.info("No stored runs yet.")
        st.stop()
    st.subheader("Stored runs")
    table = pd.DataFrame([{"id": r.id, "created (UTC)": when(r.created_at), "kind": r.kind,
                           "name": r.name, "strategy": r.strategy, "timeframe": r.timeframe,
                           "pairs": ", ".join(r.symbols), "return": r.total_return,
                           "max dd": r.max_drawdown, "trades": r.trades,
                           "trials": len(trials.get(r.id, []))} for r in runs])
    st.dataframe(table, hide_index=True, width="stretch", key="lab_runs",
                 column_config={"return": st.column_config.NumberColumn(format="percent"),
                                "max dd": st.column_config.NumberColumn(format="percent")})
    ids = [r.id for r in runs]
    default = [st.session_state["lab_last"]] if st.session_state.get("lab_last") in ids \
        else ids[:1]
    chosen = st.multiselect("Compare runs", ids, default=default, key="lab_compare")
    if chosen:
        frame = pd.DataFrame(repo.compare(chosen))
        keys = ["id", "kind", "name", "strategy", "total_return", "cagr", "sharpe", "sortino",
                "max_drawdown", "win_rate", "profit_factor", "n_trades"]
        shown = [k for k in keys if k in frame] + sorted(c for c in frame if
                                                         c.startswith("param."))
        shown_frame = frame[shown].set_index("id")
        for key in shown_frame.columns:
            if key in METRIC_INFO:
                shown_frame[key] = [metric(key, v) for v in shown_frame[key]]
        st.dataframe(shown_frame.astype(str).T.rename(
            index=lambda k: METRIC_INFO[k].label if k in METRIC_INFO else k),
            width="stretch", key="lab_metrics")
        fig, missing = go.Figure(), []
        for run_id in chosen:
            try:
                curve = repo.equity(run_id)
            except RunNotFound:
                missing.append(run_id)
                continue
            fig.add_scatter(x=pd.to_datetime(curve.ts, unit="ms", utc=True), y=curve.equity,
                            name=f"run {run_id}", mode="lines")
        if len(missing) < len(chosen):
            fig.update_layout(height=380, title="Equity",
                              margin={"l": 10, "r": 10, "t": 40, "b": 10})
            st.plotly_chart(fig, width="stretch", key="lab_equity")
        if missing:
            st.caption(f"No equity curve stored for run(s) {missing} (a study: see its "
                       "trials' heat map).")
        studies = [i for i in chosen if len(trials.get(i, [])) > 2]
        if studies:
            st.subheader("Parameter heat map")
            study = st.selectbox("Study", studies, key="hm_study")
            children = trials[study]
            params = sorted({k for r in children for k in r.params})
            c1, c2, c3 = st.columns(3)
            px_ = c1.selectbox("x", params, key="hm_x")
            py_ = c2.selectbox("y", params, index=min(1, len(params) - 1), key="hm_y")
            score = c3.selectbox("Score", ["total_return", "sharpe", "max_drawdown"],
                                 key="hm_score")
            grid = pd.DataFrame([{px_: r.params.get(px_), py_: r.params.get(py_),
                                  score: r.metrics.get(score)} for r in children])
            pivot = grid.pivot_table(index=py_, columns=px_, values=score, aggfunc="max")
            heat = go.Figure(go.Heatmap(z=pivot.values, x=list(pivot.columns),
                                        y=list(pivot.index), colorscale="RdYlGn",
                                        colorbar={"title": score}))
            heat.update_layout(height=420, xaxis_title=px_, yaxis_title=py_,
                               margin={"l": 10, "r": 10, "t": 30, "b": 10})
            st.plotly_chart(heat, width="stretch", key="lab_heat")
        report_id = st.selectbox("HTML report of run", [i for i in chosen if i not in missing]
                                 or chosen, key="lab_report")
        if st.button("Build report", key="lab_report_go"):
            from botfleet.reports.html import render_html

            html = render_html(repo.get(report_id))
            st.download_button("Download report", html, file_name=f"run-{report_id}.html",
                               mime="text/html", key="lab_report_dl")
            # a data: URL gives the report an origin of its own: its scripts cannot reach the
            # panel's session even if a stored name carried markup
            data = base64.b64encode(html.encode()).decode()
            st.iframe(f"data:text/html;base64,{data}", height=700)
