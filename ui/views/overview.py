"""Fleet overview: every bot's status, money and last cycle; refreshed in place."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from panel import context
from panel.fmt import colour_states, duration_ms, money, state_label, when

from botfleet.obs.masking import mask
from botfleet.runtime.overview import LATENCY_NOTE, fleet_overview, totals

ctx = context.current()
context.need_fleet(ctx)
st.title("Fleet overview")
every = st.sidebar.selectbox("Refresh", [5, 15, 60, 0], index=1, key="refresh_s",
                             format_func=lambda s: f"every {s} s" if s else "off")


@st.fragment(run_every=every or None)
def board() -> None:
    rows = fleet_overview(ctx.engine, ctx.fleet)  # one engine kept per process
    t = totals(rows)
    cols = st.columns(5)
    cols[0].metric("Bots", t.bots, help=", ".join(f"{n} {s}" for s, n in t.by_state.items()))
    cols[1].metric("Equity", money(t.equity))
    cols[2].metric("PnL today", money(t.pnl_today, sign=True))
    cols[3].metric("PnL 7d", money(t.pnl_7d, sign=True))
    cols[4].metric("PnL total", money(t.pnl_total, sign=True))
    st.caption(" · ".join(f"{state_label(s)}: {n}" for s, n in t.by_state.items())
               + f" · open orders: {t.open_orders}")
    table = pd.DataFrame([{
        "bot": r.bot, "status": state_label(r.state),
        "alerts": mask("; ".join(filter(None, [r.status.kill, *r.status.breakers, *r.alerts,
                                               r.status.error]))),
        "equity": money(r.equity), "PnL today": money(r.pnl_today, sign=True),
        "PnL 7d": money(r.pnl_7d, sign=True), "PnL total": money(r.pnl_total, sign=True),
        "positions": ", ".join(f"{k} {v}" for k, v in r.status.positions.items()) or "flat",
        "orders": r.status.open_orders, "last cycle (UTC)": when(r.status.last_cycle_at),
        "cycle latency": duration_ms(r.latency_ms), "outcome": r.status.outcome or "-",
        "mode": r.status.mode, "exchange": r.status.exchange,
    } for r in rows])
    st.dataframe(colour_states(table), hide_index=True, width="stretch", key="overview_table",
                 height=min(38 + 35 * max(len(rows), 1), 900),
                 column_config={"alerts": st.column_config.TextColumn(width="medium"),
                                "cycle latency": st.column_config.TextColumn(
                                    help=f"The last cycle's duration {LATENCY_NOTE}.")})
    st.caption(f"Read {when(pd.Timestamp.now('UTC').to_pydatetime())} UTC from the state "
               "database.")


board()
names = [b.name for b in ctx.fleet.bots.values()] if ctx.fleet else []
if names:
    pick = st.selectbox("Open a bot", names, key="overview_bot")
    if st.button("Open bot detail", key="open_bot"):
        st.session_state["bot"] = pick
        st.switch_page("views/bot.py")
