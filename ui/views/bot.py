"""Bot detail: price with trades and indicators, equity and drawdown, positions, orders with
their event history, recent cycles (each with its correlation id), stored research runs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from panel import context
from panel.fmt import duration_ms, money, state_label, when
from plotly.subplots import make_subplots

from botfleet.data.store import SeriesKey, open_store
from botfleet.execution.ledger import Ledger
from botfleet.execution.queries import word
from botfleet.obs.masking import mask
from botfleet.runtime.chart import IndicatorPanels, bot_indicators
from botfleet.runtime.overview import (
    LATENCY_NOTE,
    equity_curve,
    fleet_overview,
    limit_usage,
    recent_cycles,
)

ctx = context.current()
context.need_fleet(ctx)
if ctx.fleet is None:
    st.error("The bot detail needs a valid fleet (see the Config page).")
    st.stop()
names = sorted(ctx.fleet.bots)
if st.session_state.get("bot") not in names:
    st.session_state["bot"] = names[0]
name = st.sidebar.selectbox("Bot", names, key="bot")
bot = ctx.fleet.bots[name]
st.title(f"Bot {name}")
row = next((r for r in fleet_overview(ctx.state_url, ctx.fleet) if r.bot == name), None)
if row is not None:
    c = st.columns(5)
    c[0].metric("Status", state_label(row.state))
    c[1].metric("Equity", money(row.equity))
    c[2].metric("PnL today", money(row.pnl_today, sign=True))
    c[3].metric("PnL total", money(row.pnl_total, sign=True))
    c[4].metric("Cycle latency", duration_ms(row.latency_ms),
                help=f"The last cycle's duration {LATENCY_NOTE}.")
    for note in filter(None, [row.status.kill, *row.status.breakers, row.status.halted,
                              row.paused_by and f"paused by {row.paused_by}"]):
        st.warning(mask(note))
st.caption(f"{bot.exchange} · {', '.join(bot.pairs)} · {bot.timeframe} · strategy "
           f"{bot.strategy} · mode {bot.mode}")

ledger = Ledger(ctx.state_url, migrate=False)
fills = ledger.fills(bot=name)
bars = st.sidebar.slider("Bars on the chart", 100, 2000, 300, 100, key="bot_bars")
pair = st.selectbox("Pair", bot.pairs, key="bot_pair")


@st.cache_data(ttl=60, show_spinner=False)
def _candles(url: str, exchange: str, symbol: str, tf: str, n: int) -> np.ndarray:
    with open_store(url) as store:
        return store.last(SeriesKey(exchange, symbol, tf), n)


candles = _candles(ctx.fleet.storage.candles, bot.exchange, pair, bot.timeframe, bars)
if len(candles) == 0:
    st.info(f"No {bot.timeframe} candles of {pair} in the candle store yet (Data page).")
else:
    times = pd.to_datetime(candles["ts"], unit="ms", utc=True)
    try:
        panels = bot_indicators(ctx.load, name, pair, int(candles["ts"][0]))
        why_not = None
    except Exception as exc:  # noqa: BLE001 - the chart without indicators is still useful
        panels, why_not = IndicatorPanels(ts=np.empty(0)), str(exc)
    # oscillators (RSI, ADX, MACD...) get a panel of their own under the candles, same x axis
    rows = 2 if panels.oscillators else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.7, 0.3] if rows == 2 else [1.0])
    fig.add_candlestick(x=times, open=candles["open"], high=candles["high"],
                        low=candles["low"], close=candles["close"], name=pair, row=1, col=1)
    at = pd.to_datetime(panels.ts, unit="ms", utc=True)
    for row_no, group in ((1, panels.price), (2, panels.oscillators)):
        for key, s in group.items():
            fig.add_scatter(x=at, y=s, mode="lines", name=key, line={"width": 1},
                            row=row_no, col=1)
    if why_not:
        st.caption(f"indicators not shown: {why_not}")
    mine = [f for f in fills if f.symbol == pair and f.ts_ms >= candles["ts"][0]]
    for side, colour, symbol in (("buy", "green", "triangle-up"),
                                 ("sell", "red", "triangle-down")):
        picked = [f for f in mine if word(f.side) == side]
        if picked:
            fig.add_scatter(x=pd.to_datetime([f.ts_ms for f in picked], unit="ms", utc=True),
                            y=[float(f.price) for f in picked], mode="markers", name=side,
                            marker={"color": colour, "symbol": symbol, "size": 11},
                            row=1, col=1)
    fig.update_layout(height=460 + 180 * (rows - 1), xaxis_rangeslider_visible=False,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    st.plotly_chart(fig, width="stretch", key="bot_price")

curve = equity_curve(ctx.state_url, name)
if curve:
    eq = pd.Series([float(v) for _, v in curve],
                   index=pd.to_datetime([t for t, _ in curve], unit="ms", utc=True))
    dd = eq / eq.cummax() - 1
    fig = go.Figure()
    fig.add_scatter(x=eq.index, y=eq.values, name="equity")
    fig.add_scatter(x=dd.index, y=dd.values * 100, name="drawdown %", yaxis="y2",
                    fill="tozeroy", line={"color": "firebrick"})
    fig.update_layout(height=300, yaxis2={"overlaying": "y", "side": "right"},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="Equity and drawdown")
    st.plotly_chart(fig, width="stretch", key="bot_equity")

left, right = st.columns(2)
with left:
    st.subheader("Positions")
    held = [p for p in ledger.positions(name) if p.amount != 0]
    st.dataframe(pd.DataFrame([{"pair": p.symbol, "amount": str(p.amount),
                                "entry": str(p.entry_price)} for p in held])
                 if held else pd.DataFrame({"": ["flat"]}), hide_index=True)
    st.subheader("Risk limits")
    usage = limit_usage(ctx.state_url, ctx.fleet, name)
    st.dataframe(pd.DataFrame([{"limit": u["limit"], "value": u["value"],
                                "used": f"{u['used']:.0%}" if u["used"] is not None else "-"}
                               for u in usage]) if usage
                 else pd.DataFrame({"": ["none beyond the fleet's"]}), hide_index=True,
                 key="bot_limits")
with right:
    st.subheader("Fills")
    st.dataframe(pd.DataFrame([{"when (UTC)": when(f.ts_ms), "pair": f.symbol,
                                "side": word(f.side), "amount": str(f.amount),
                                "price": str(f.price), "fee": str(f.fee)}
                               for f in reversed(fills[-50:])])
                 if fills else pd.DataFrame({"": ["none"]}), hide_index=True)

st.subheader("Orders")
orders = ledger.orders(name)[-50:]
if orders:
    table = pd.DataFrame([{"created (UTC)": when(o.created_at), "client id": o.client_id,
                           "pair": o.symbol, "side": word(o.side), "type": word(o.type),
                           "amount": str(o.amount), "filled": str(o.filled),
                           "status": word(o.status), "reason": word(o.reason)}
                          for o in reversed(orders)])
    st.dataframe(table, hide_index=True, width="stretch", key="bot_orders")
    pick = st.selectbox("Order history", [o.client_id for o in reversed(orders)],
                        key="bot_order")
    st.dataframe(pd.DataFrame([{"when (UTC)": when(e.ts), "from": word(e.from_status)
                                if e.from_status else "-", "to": word(e.to_status),
                                "source": e.source,
                                "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items())}
                               for e in ledger.events(pick)]), hide_index=True,
                 width="stretch")
else:
    st.caption("No orders yet.")

st.subheader("Recent cycles")
cycles = recent_cycles(ctx.state_url, name, limit=30)
st.dataframe(pd.DataFrame([{"started (UTC)": when(c["started"]),
                            "candle": when(c["candle_ms"]) if c["candle_ms"] else "-",
                            "outcome": c["outcome"], "latency ms": c["latency_ms"],
                            "correlation id": c["correlation_id"], "error": mask(c["error"] or "")}
                           for c in cycles]) if cycles else pd.DataFrame({"": ["none"]}),
             hide_index=True, width="stretch", key="bot_cycles")
st.subheader("Prefect runs")
if not os.environ.get("PREFECT_API_URL"):
    st.caption("No PREFECT_API_URL: the panel knows no Prefect server to ask.")
else:
    from botfleet.orchestration import bot_runs

    try:
        runs = bot_runs(name, fleet=ctx.fleet.name, limit=20)
        st.dataframe(pd.DataFrame([{"task": r["task"], "state": r["state"],
                                    "start (UTC)": when(r["start"]) if r["start"] else "-",
                                    "seconds": r["seconds"], "flow run": r["flow_run"],
                                    "link": r["url"]} for r in runs])
                     if runs else pd.DataFrame({"": ["no runs of this bot yet"]}),
                     hide_index=True, width="stretch", key="bot_prefect",
                     column_config={"link": st.column_config.LinkColumn("Prefect UI")})
    except Exception as exc:  # noqa: BLE001 - Prefect trouble must not take the page down
        st.warning(f"Prefect at {os.environ['PREFECT_API_URL']}: {exc}")

st.subheader("Recent logs")
log_file = getattr(getattr(ctx.fleet, "logging", None), "file", None)
if not log_file:
    st.caption("The fleet writes no log file (set `logging.file` in fleet.yaml); each cycle's "
               "lines carry its correlation id in the runner's output.")
else:
    from botfleet.obs.logread import read_log

    lines = read_log(log_file, bot=name, correlation_ids=[c["correlation_id"] for c in cycles],
                     limit=200)
    st.dataframe(pd.DataFrame([{"ts": r.get("ts"), "level": r.get("level"),
                                "correlation id": r.get("correlation_id"),
                                "logger": r.get("logger"),
                                "message": mask(str(r.get("message", "")))}
                               for r in reversed(lines)])
                 if lines else pd.DataFrame({"": [f"no lines of {name} in {log_file}"]}),
                 hide_index=True, width="stretch", key="bot_logs")
ledger.engine.dispose()
