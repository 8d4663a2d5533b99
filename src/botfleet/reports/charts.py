"""The report's plotly figures, each returned as an HTML fragment without plotly.js (the page
inlines the library once).

Long runs are decimated before they reach the page: five years of hourly bars is 44k points per
line, and a page with a dozen such lines in SVG is slow to open and to print. Each line keeps the
minimum and the maximum of every bucket of bars (`decimate`), so peaks, crashes and the deepest
drawdown are still drawn where they happened; trades are never decimated — every entry and exit
marker sits on its exact bar and fill price.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from botfleet.orders import Reason
from botfleet.reports import fmt

BUCKETS = 2000  # min/max buckets per line: ~4000 points, more than a screen has pixels
WHOLE_BELOW = 5000  # lines shorter than this are drawn whole

UP, DOWN, INK, MUTED, GRID = "#15803d", "#b91c1c", "#1f2937", "#6b7280", "#e5e7eb"
SERIES_COLOURS = ("#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#9333ea")
AXIS = {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": "#9ca3af", "showline": True}
# Bars travel as ms numbers; the hover label is formatted by the axis (a hovertemplate's
# %{x|...} would parse the number as a date string and fail).
DATE_AXIS = {**AXIS, "type": "date", "hoverformat": "%Y-%m-%d %H:%M"}
CONFIG = {"displaylogo": False, "responsive": True,
          "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"]}


def decimate(y: np.ndarray, buckets: int = BUCKETS, whole_below: int = WHOLE_BELOW) -> np.ndarray:
    """Indices of `y` to draw: all of them for short lines, else the min and max of each of
    `buckets` equal runs of bars plus the first and last bar. NaN (no bar) is kept as a gap when
    a whole bucket is missing."""
    n = len(y)
    if n <= max(whole_below, 2 * buckets):
        return np.arange(n)
    size = math.ceil(n / buckets)
    pad = size * math.ceil(n / size) - n
    y = np.asarray(y, dtype=np.float64)
    lo = np.concatenate([np.where(np.isnan(y), np.inf, y), np.full(pad, np.inf)])
    hi = np.concatenate([np.where(np.isnan(y), -np.inf, y), np.full(pad, -np.inf)])
    starts = np.arange(0, n + pad, size)
    imin = lo.reshape(-1, size).argmin(axis=1) + starts
    imax = hi.reshape(-1, size).argmax(axis=1) + starts
    keep = np.unique(np.concatenate([imin, imax, [0, n - 1]]))
    return keep[keep < n]


def _x(ts: np.ndarray) -> np.ndarray:
    """Bar times for a date axis: plotly reads numbers on a date axis as ms since the epoch, and
    a float64 array travels as compact base64 rather than 44k date strings."""
    return np.asarray(ts, dtype=np.float64)


def date_range(ts: np.ndarray, pad: float = 0.005) -> list[float] | None:
    """The x range of a time chart: the bars plus a hair. Without it plotly pads the autorange
    by 5% for marker traces and for annotations, so a five-year chart ran three months past its
    last bar on both sides."""
    if not len(ts):
        return None
    lo, hi = float(ts[0]), float(ts[-1])
    extra = (hi - lo) * pad or 3_600_000.0
    return [lo - extra, hi + extra]


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    """One small layout instead of a plotly template (a template adds ~10 kB per figure)."""
    base = {
        "template": None, "height": height, "margin": {"l": 64, "r": 24, "t": 36, "b": 40},
        "font": {"family": "Inter, system-ui, -apple-system, Segoe UI, sans-serif", "size": 12,
                 "color": INK},
        "paper_bgcolor": "white", "plot_bgcolor": "white", "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
        "xaxis": DATE_AXIS, "yaxis": AXIS,
    }
    base.update(extra)
    return base


def fig_html(fig: go.Figure, div_id: str) -> str:
    """A figure as a div plus the script that draws it; plotly.js is loaded once by the page."""
    return fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                       div_id=div_id, config=CONFIG, default_width="100%",
                       default_height=f"{fig.layout.height or 400}px")


def _line(ts: np.ndarray, y: np.ndarray, name: str, **kw: Any) -> go.Scatter:
    keep = decimate(y)
    return go.Scatter(x=_x(ts[keep]), y=np.asarray(y, dtype=np.float64)[keep], mode="lines",
                      name=fmt.esc(name), connectgaps=False, **kw)


def _reason(code: int) -> str:
    try:
        return Reason(int(code)).label
    except ValueError:
        return f"code {int(code)}"


def pair_series(result, asset: int) -> dict[str, np.ndarray]:
    """The named indicator series that belong to one pair: the engine prefixes them with
    '<symbol> ' when there is more than one pair; (T, A) arrays give one column per pair."""
    symbol = result.symbols[asset]
    single = len(result.symbols) == 1
    out = {}
    for name, values in result.series.items():
        arr = np.asarray(values)
        if arr.ndim == 2 and arr.shape[1] == len(result.symbols):
            out[name] = arr[:, asset]
        elif arr.ndim == 1 and len(arr) == len(result.ts):
            if name.startswith(symbol + " "):
                out[name[len(symbol) + 1:]] = arr
            elif single:
                out[name] = arr
    return out


def _overlays(series: dict[str, np.ndarray], close: np.ndarray) -> tuple[dict, dict]:
    """Split indicators into those drawn over the price (same scale: moving averages, bands)
    and those that need their own panel (RSI, MACD, volume-like scales)."""
    level = np.nanmedian(np.abs(close)) if np.isfinite(close).any() else np.nan
    over, under = {}, {}
    for name, y in series.items():
        y = np.asarray(y, dtype=np.float64)
        m = np.nanmedian(np.abs(y)) if np.isfinite(y).any() else np.nan
        same_scale = math.isfinite(level) and math.isfinite(m) and 0.5 * level <= m <= 2 * level
        (over if same_scale else under)[name] = y
    return over, under


def _trade_markers(result, asset: int, ccy: str) -> list[go.Scatter]:
    """Entry and exit markers at their exact bars and prices, with the reason in the hover, and
    a faint line from entry to exit coloured by the trade's outcome."""
    tr = result.trades[result.trades["asset"] == asset]
    if not len(tr):
        return []
    ts, symbol = result.ts, fmt.esc(result.symbols[asset])
    t_in, t_out = ts[tr["entry_bar"]], ts[tr["exit_bar"]]
    traces: list[go.Scatter] = []
    for win, colour, label in ((True, UP, "winning trade"), (False, DOWN, "losing trade")):
        sel = (tr["pnl"] > 0) == win
        if not sel.any():
            continue
        k = int(sel.sum())
        xs = np.column_stack([t_in[sel], t_out[sel], np.full(k, np.nan)]).ravel()
        ys = np.column_stack([tr["entry_price"][sel], tr["exit_price"][sel],
                              np.full(k, np.nan)]).ravel()
        traces.append(go.Scatter(x=_x(xs), y=ys, mode="lines", name=label, hoverinfo="skip",
                                 line={"color": colour, "width": 1.2, "dash": "dot"},
                                 opacity=0.8, legendgroup="paths", connectgaps=False))
    exits, entries = [], []
    for direction, name, symbol_shape, colour in ((1, "long", "triangle-up", UP),
                                                  (-1, "short", "triangle-down", DOWN)):
        sel = tr["direction"] == direction
        if not sel.any():
            continue
        t = tr[sel]
        entry_text = [
            f"<b>{name} entry</b> {symbol}<br>{fmt.ts_text(ts[r['entry_bar']])}<br>"
            f"price {fmt.price(r['entry_price'])}<br>amount {fmt.number(r['amount'])}<br>"
            f"reason: {_reason(r['entry_reason'])}" for r in t]
        entries.append(go.Scatter(
            x=_x(ts[t["entry_bar"]]), y=t["entry_price"], mode="markers", name=f"{name} entry",
            text=entry_text, hovertemplate="%{text}<extra></extra>",
            marker={"symbol": symbol_shape, "size": 9, "color": colour,
                    "line": {"color": "white", "width": 0.8}}))
        exits.append((t, name))
    # Exits are one neutral trace for both sides: green and red mean long/short on the entries
    # and win/loss on the entry-exit lines, so a coloured exit mark would read either way.
    # Trace order (paths, exits, entries) puts the entries on top.
    xs, ys, texts = [], [], []
    for t, name in exits:
        xs.append(ts[t["exit_bar"]])
        ys.append(t["exit_price"])
        texts += [
            f"<b>{name} exit</b> {symbol}<br>{fmt.ts_text(ts[r['exit_bar']])}<br>"
            f"price {fmt.price(r['exit_price'])}<br>PnL {fmt.money(r['pnl'], ccy, True)} "
            f"({fmt.pct(r['ret'], True)})<br>reason: {_reason(r['exit_reason'])}<br>"
            f"held {fmt.span_text(float(ts[r['exit_bar']] - ts[r['entry_bar']]))}" for r in t]
    if exits:
        traces.append(go.Scatter(
            x=_x(np.concatenate(xs)), y=np.concatenate(ys), mode="markers", name="exit",
            text=texts, hovertemplate="%{text}<extra></extra>",
            marker={"symbol": "x-thin", "size": 7, "color": "#374151", "opacity": 0.85,
                    "line": {"color": "#374151", "width": 1.4}}))
    traces += entries  # drawn last: the coloured entries stay visible over the exits
    return traces


def price_figure(result, asset: int, ccy: str = "") -> go.Figure:
    """A pair's close with its indicators and every trade's entry and exit."""
    close = np.asarray(result.close[:, asset], dtype=np.float64)
    over, under = _overlays(pair_series(result, asset), close)
    rows = 2 if under else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.74, 0.26] if under else [1.0])
    fig.add_trace(_line(result.ts, close, "close", line={"color": INK, "width": 1.1},
                        hovertemplate="%{x}<br>close %{y:,.6g}<extra></extra>"),
                  row=1, col=1)
    colours = iter(SERIES_COLOURS * 4)
    for name, y in over.items():
        fig.add_trace(_line(result.ts, y, name, line={"width": 1.1, "color": next(colours)}),
                      row=1, col=1)
    for tr in _trade_markers(result, asset, ccy):
        fig.add_trace(tr, row=1, col=1)
    for name, y in under.items():
        fig.add_trace(_line(result.ts, y, name, line={"width": 1.0, "color": next(colours)}),
                      row=2, col=1)
    height = 520 if under else 440
    fig.update_layout(**_layout(height))
    fig.update_xaxes(**DATE_AXIS, range=date_range(result.ts))
    fig.update_yaxes(**AXIS)
    fig.update_yaxes(title_text=f"price {fmt.esc(ccy)}".strip(), row=1, col=1)
    return fig


def equity_figure(result, ccy: str = "") -> go.Figure:
    """Equity marked at each close over the starting capital, with gross exposure beneath it
    (when the strategy was in the market)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.78, 0.22])
    fig.add_trace(_line(result.ts, result.equity, "equity", line={"color": "#2563eb",
                                                                  "width": 1.4},
                        hovertemplate="%{x}<br>equity %{y:,.2f}<extra></extra>"),
                  row=1, col=1)
    if len(result.ts):
        fig.add_trace(go.Scatter(x=_x(result.ts[[0, -1]]), y=[float(result.capital)] * 2,
                                 mode="lines", name="capital", hoverinfo="skip",
                                 line={"color": MUTED, "width": 1, "dash": "dash"}), row=1, col=1)
    fig.add_trace(_line(result.ts, np.asarray(result.exposure, dtype=np.float64) * 100,
                        "exposure", line={"color": "#0891b2", "width": 0.8}, fill="tozeroy",
                        hovertemplate="%{x}<br>exposure %{y:.1f}%<extra></extra>"),
                  row=2, col=1)
    fig.update_layout(**_layout(420, showlegend=True))  # fits page 1 of the PDF
    fig.update_xaxes(**DATE_AXIS, range=date_range(result.ts))
    fig.update_yaxes(**AXIS)
    fig.update_yaxes(title_text=f"equity {fmt.esc(ccy)}".strip(), row=1, col=1)
    fig.update_yaxes(title_text="exposure", ticksuffix="%", row=2, col=1)
    return fig


def drawdown_figure(ts: np.ndarray, dd: np.ndarray) -> go.Figure:
    """The underwater curve: how far equity is below its running peak, in percent."""
    y = -np.abs(np.asarray(dd, dtype=np.float64)) * 100
    fig = go.Figure(_line(ts, y, "drawdown", fill="tozeroy",
                          line={"color": DOWN, "width": 1}, fillcolor="rgba(185,28,28,0.25)",
                          hovertemplate="%{x}<br>%{y:.2f}%<extra></extra>"))
    if np.isfinite(y).any():
        i = int(np.nanargmin(y))
        left = i > len(y) / 2  # label on the side with room, inside the plot
        fig.add_annotation(x=float(ts[i]), y=y[i], text=f"max {y[i]:.1f}%", showarrow=True,
                           arrowhead=2, ax=-44 if left else 44, ay=16, font={"color": DOWN},
                           xanchor="right" if left else "left", bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(**_layout(300, showlegend=False))
    fig.update_xaxes(range=date_range(ts))
    fig.update_yaxes(ticksuffix="%")
    return fig


# The heat map's axes: labels only; grid lines and ticks would show through the empty cells of
# a partial first or last year.
CATEGORY_AXIS = {"type": "category", "side": "top", "showline": False, "showgrid": False,
                 "zeroline": False, "ticks": "", "fixedrange": True}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _cell(v: float) -> str:
    """A heat-map cell's text: '+1.2%', '-3.4%', '0.0%' (not '-0.0%'), empty for no data."""
    if not math.isfinite(v):
        return ""
    return "0.0%" if round(v, 1) == 0 else f"{v:+.1f}%"


def monthly_figure(years: list[int], grid: np.ndarray) -> go.Figure:
    """Monthly returns as a year × month heat map, red for losses and green for gains; a 13th
    column (sim.metrics.monthly_table's compounded year) is shown as "Year" with its own scale,
    so a big year does not wash out the months."""
    grid = np.asarray(grid, dtype=np.float64) * 100
    months = grid[:, :12]
    lim = float(np.nanmax(np.abs(months))) if np.isfinite(months).any() else 1.0
    fig = go.Figure()
    columns = [(list(MONTHS), months, lim, "x")]
    if grid.shape[1] > 12:
        year = grid[:, 12:13]
        ylim = float(np.nanmax(np.abs(year))) if np.isfinite(year).any() else 1.0
        columns.append((["Year"], year, ylim, "x2"))
    for labels, z, zlim, xaxis in columns:
        text = [[_cell(v) for v in row] for row in z]
        fig.add_trace(go.Heatmap(
            z=z, x=labels, y=[str(y) for y in years], text=text, texttemplate="%{text}",
            colorscale=[[0, "#b91c1c"], [0.5, "#f9fafb"], [1, "#15803d"]], zmid=0,
            zmin=-zlim, zmax=zlim, xgap=2, ygap=2, showscale=False, xaxis=xaxis,
            hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    split = 12 / 13.4 if len(columns) > 1 else 1.0
    fig.update_layout(**_layout(max(160, 60 + 34 * len(years)),
                                xaxis={**CATEGORY_AXIS, "domain": [0, split]},
                                xaxis2={**CATEGORY_AXIS, "anchor": "y",
                                        "domain": [min(1.0, split + 0.01), 1.0]},
                                yaxis={**CATEGORY_AXIS, "side": "left",
                                       "autorange": "reversed"},
                                margin={"l": 64, "r": 24, "t": 40, "b": 16}))
    return fig


def comparison_figure(results: list) -> go.Figure:
    """Several runs' equity as return on their own capital, on one time axis."""
    fig = go.Figure()
    colours = iter(SERIES_COLOURS * 8)
    for i, r in enumerate(results):
        cap = float(r.capital) or 1.0
        y = (np.asarray(r.equity, dtype=np.float64) / cap - 1) * 100
        fig.add_trace(_line(r.ts, y, f"{i + 1}. {r.name}", line={"width": 1.3,
                                                                 "color": next(colours)},
                            hovertemplate="%{x}<br>%{y:+.2f}%<extra>"
                                          + fmt.esc(r.name) + "</extra>"))
    fig.update_layout(**_layout(460))
    fig.update_yaxes(ticksuffix="%", title_text="return on capital")
    return fig
