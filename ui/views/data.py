"""Data: what the candle store holds per exchange, pair and timeframe, its gaps, and an
ingest of the fleet's missing candles (`data.prepare.prepare`, as `botfleet run` does)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from panel import auth, context

from botfleet.data.candles import timeframe_ms
from botfleet.data.quality import iso
from botfleet.data.store import open_store

ctx = context.current()
st.title("Data")
if ctx.fleet is None:
    st.error("The data page needs a valid fleet (see the Config page).")
    st.stop()


@st.cache_data(ttl=30, show_spinner=False)
def coverage(url: str) -> list[dict]:
    with open_store(url) as store:
        return [{"exchange": c.key.exchange, "pair": c.key.symbol,
                 "timeframe": c.key.timeframe, "first": c.first, "last": c.last,
                 "candles": c.count} for c in store.coverage()]


rows = coverage(ctx.fleet.storage.candles)
if not rows:
    st.info("The candle store is empty.")
else:
    frame = pd.DataFrame(rows)
    frame["series"] = frame["exchange"] + " " + frame["pair"]
    # complete: the share of the bars between the first and the last candle that are stored
    frame["complete"] = [100 * r["candles"] / ((r["last"] - r["first"]) //
                                               timeframe_ms(r["timeframe"]) + 1) for r in rows]
    frame["label"] = [f"{n:,} ({c:.1f}%)" for n, c in zip(frame["candles"], frame["complete"],
                                                          strict=True)]
    z = frame.pivot(index="series", columns="timeframe", values="complete")
    text = frame.pivot(index="series", columns="timeframe", values="label").fillna("none")
    fig = go.Figure(go.Heatmap(z=z.values, x=list(z.columns), y=list(z.index), zmin=0,
                               zmax=100, colorscale="Blues", text=text.values,
                               texttemplate="%{text}", colorbar={"title": "% complete"},
                               hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    fig.update_layout(height=120 + 40 * len(z.index), title="Candles stored (share complete)",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(fig, width="stretch", key="data_heat")
    shown = frame.assign(first=frame["first"].map(iso), last=frame["last"].map(iso),
                         complete=frame["complete"].round(2))
    st.dataframe(shown.drop(columns=["series", "label"]), hide_index=True, width="stretch",
                 key="data_table")
    pick = st.selectbox("Gaps of", [f"{r['exchange']}|{r['pair']}|{r['timeframe']}"
                                    for r in rows], key="data_gaps_of",
                        format_func=lambda s: s.replace("|", " "))
    from botfleet.data.store import SeriesKey

    with open_store(ctx.fleet.storage.candles) as store:
        gaps = store.gaps(SeriesKey(*pick.split("|")))
    st.dataframe(pd.DataFrame([{"from": iso(g.start), "to": iso(g.end),
                                "missing": getattr(g, "missing", None)} for g in gaps])
                 if gaps else pd.DataFrame({"": ["no gaps"]}), hide_index=True,
                 key="data_gaps")

st.subheader("Ingest")
default_dir = os.environ.get("BOTFLEET_DATA_DIR", "")
folder = st.text_input("Candle files folder (optional)", default_dir, key="data_dir")
download = st.checkbox("Download missing candles through ccxt", value=not folder,
                       key="data_download")
if st.button("Ingest the fleet's candles", key="data_ingest", disabled=not auth.operator()):
    from botfleet.data.prepare import prepare

    with st.spinner("ingesting"), open_store(ctx.fleet.storage.candles) as store:
        report = prepare(ctx.fleet, store, data_dir=Path(folder) if folder else None,
                         download=download)
    coverage.clear()
    for o in report.outcomes:
        st.write(f"{o.need.exchange} {o.need.symbol} {o.need.timeframe}: {o.source}"
                 + (f", {o.rows} candle(s)" if o.rows else ""))
    if report.missing:
        st.error(f"{len(report.missing)} series could not be filled.")
