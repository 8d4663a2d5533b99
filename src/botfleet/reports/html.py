"""A backtest as one self-contained HTML file: plotly.js, styles and data are inlined, so the file
opens offline, can be mailed or archived next to the run, and prints to the PDF (`reports.pdf`)
without fetching anything.

The page reads only the `BacktestResult`; metrics come from `result.metrics` (or are computed on
a copy with `botfleet.sim.metrics` when the result carries none), and every number is formatted
by `reports.fmt` from sim.metrics' `METRIC_INFO`.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.offline

from botfleet.reports import charts, fmt, tables
from botfleet.reports.style import CSS


def _plotly_js() -> str:
    """plotly.js from the installed plotly package, inlined once per page."""
    return plotly.offline.get_plotlyjs()


def _version() -> str:
    try:
        return importlib.metadata.version("botfleet")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def _bar_ms(result) -> int | None:
    from botfleet.data.candles import TimeframeError, timeframe_ms

    try:
        return timeframe_ms(result.timeframe)
    except TimeframeError:
        return None


def _metrics(result, mod) -> dict[str, Any]:
    """The result's metrics, computed on a shallow copy when missing (compute() stores them on
    the result it is given, and rendering a report should not change the run)."""
    if result.metrics or mod is None or not len(result.ts):
        return dict(result.metrics)
    try:
        return mod.compute(dataclasses.replace(result))
    except Exception:  # noqa: BLE001 - the report still shows the run without metrics
        return {}


def _section(sid: str, title: str, body: str, flow: bool = False) -> str:
    """A report section; printed, it starts a new page unless `flow` (short sections that
    share a page with the one before)."""
    cls = "sec flow" if flow else "sec"
    return f'<section class="{cls}" id="{sid}"><h2>{fmt.esc(title)}</h2>{body}</section>'


MARKER_NOTE = ('<p class="muted small">▲ long entry · ▼ short entry · × exit; dotted lines join '
               "entry and exit, green for a winning trade and red for a losing one. Hover a "
               "marker for its price, PnL and reason; drag to zoom, double-click to reset.</p>")


def _pair_charts(result, ccy: str) -> str:
    """One price chart per pair under its own heading (a plotly title would sit on the
    legend), each printed on its own page with the marker legend."""
    return "".join(
        f'<div class="pair-chart"><h3>{fmt.esc(symbol)}</h3>'
        f'{_chart(charts.price_figure(result, a, ccy), f"chart-price-{a}")}{MARKER_NOTE}</div>'
        for a, symbol in enumerate(result.symbols))


def _chart(fig, div_id: str) -> str:
    return f'<div class="chart">{charts.fig_html(fig, div_id)}</div>'


def _header(result, m: dict[str, Any], ccy: str) -> str:
    period = (f"{fmt.ts_text(result.start_ms)} → {fmt.ts_text(result.end_ms)} UTC "
              f"({fmt.span_text(float(result.end_ms - result.start_ms))})"
              if len(result.ts) else fmt.MISSING)
    cap = float(result.capital)
    final = result.final_equity
    change = f" ({fmt.pct(final / cap - 1, True)})" if cap else ""
    run_id = result.meta.get("run_id") or result.meta.get("id")
    facts = {
        "Strategy": fmt.esc(result.strategy),
        "Pairs": ", ".join(fmt.esc(s) for s in result.symbols),
        "Timeframe": fmt.esc(result.timeframe),
        "Period": period,
        "Capital": fmt.money(cap, ccy),
        "Final equity": fmt.money(final, ccy) + change,
        "Trades": f"{len(result.trades):,}",
    }
    if run_id:
        facts["Run"] = fmt.esc(run_id)
    cells = "".join(f'<div{" class=wide" if k == "Period" else ""}><dt>{k}</dt><dd>{v}</dd></div>'
                    for k, v in facts.items())
    return (f'<header class="top"><div class="inner"><h1>{fmt.esc(result.name)}</h1>'
            f'<div class="sub">Backtest report · strategy {fmt.esc(result.strategy)}</div>'
            f'<dl class="facts">{cells}</dl></div></header>')


def _monthly(result, mod) -> str:
    if mod is None or not hasattr(mod, "monthly_returns"):
        return '<p class="muted">Monthly returns need botfleet.sim.metrics.</p>'
    monthly = mod.monthly_returns(result.ts, result.equity, float(result.capital))
    if not len(monthly):
        return '<p class="muted">No bars.</p>'
    years, grid = mod.monthly_table(monthly)
    return (_chart(charts.monthly_figure(years, grid), "chart-monthly")
            + '<p class="muted small">Month-end equity over the previous month-end (the first '
            "month over the capital); “Year” compounds the months. UTC calendar months.</p>")


def _drawdown(result, mod) -> str:
    if mod is None or not hasattr(mod, "drawdown"):
        return '<p class="muted">The drawdown curve needs botfleet.sim.metrics.</p>'
    dd = mod.drawdown(result.equity, float(result.capital))
    dd = dd[0] if isinstance(dd, tuple) else dd
    return _chart(charts.drawdown_figure(result.ts, dd), "chart-drawdown")


def _decimation_note(n_bars: int) -> str:
    if n_bars <= max(charts.WHOLE_BELOW, 2 * charts.BUCKETS):
        return f"All {n_bars:,} bars are drawn."
    size = math.ceil(n_bars / charts.BUCKETS)
    return (f"To keep the page quick, lines are drawn from at most about {2 * charts.BUCKETS:,} "
            f"of the {n_bars:,} bars: each run of {size} bars keeps its lowest and its highest "
            "value (min/max decimation), so peaks, crashes and the deepest drawdown are drawn "
            "where they happened; zooming in shows those same points, not every bar. Trades are "
            "not decimated: every entry and exit marker is at its exact bar and fill price. "
            "Metrics and tables use every bar.")


def _params(result) -> str:
    body = tables.dl(result.params)
    if result.meta:
        body += "<h3>Run</h3>" + tables.dl(result.meta)
    return body


def render_html(result, path: str | Path | None = None) -> str:
    """The full report of one backtest as an HTML string (also written to `path` if given)."""
    mod = fmt.load_metrics()
    info = fmt.metric_table()
    ccy = fmt.quote_currency(result.symbols)
    m = _metrics(result, mod)
    sections = [
        _section("summary", "Summary", tables.headline(m, info, ccy)
                 + _chart(charts.equity_figure(result, ccy), "chart-equity")),
        _section("drawdown", "Drawdown", _drawdown(result, mod)),
        _section("monthly", "Monthly returns", _monthly(result, mod), flow=True),
        _section("metrics", "Metrics", tables.metrics_table(m, info, ccy)),
        _section("pairs", "Price and trades", _pair_charts(result, ccy)),
        _section("trades", f"Trades ({len(result.trades):,})", tables.trades_table(result, ccy)),
        _section("per-pair", "Per pair", tables.per_pair_table(result, mod, info, ccy)),
        _section("params", "Parameters", _params(result)),
        _section("fill-model", "Fill model assumptions", tables.dl(result.fill_model), flow=True),
        _section("coverage", "Data coverage", tables.coverage_table(result), flow=True),
        _section("rejects", "Rejected orders", tables.rejects_table(result, ccy), flow=True),
    ]
    toc = [("summary", "Summary"), ("drawdown", "Drawdown"), ("monthly", "Monthly"),
           ("metrics", "Metrics"), ("pairs", "Charts"), ("trades", "Trades"),
           ("per-pair", "Per pair"), ("params", "Parameters"), ("fill-model", "Fill model"),
           ("coverage", "Coverage"), ("rejects", "Rejected")]
    page = _page(title=f"{result.name} · {result.strategy} · backtest", header=_header(result, m, ccy), toc=toc,
                 body="".join(sections), notes=[
                     _decimation_note(len(result.ts)),
                     "All times are bar open times in UTC. Money is in the quote currency"
                     + (f" ({fmt.esc(ccy)})" if ccy else "") + "."])
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def _page(title: str, header: str, toc: list[tuple[str, str]], body: str,
          notes: list[str]) -> str:
    nav = "".join(f'<a href="#{sid}">{fmt.esc(label)}</a>' for sid, label in toc)
    generated = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    foot = "".join(f"<p>{n}</p>" for n in notes)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{fmt.esc(title)}</title><style>{CSS}</style>"
        f"<script>{_plotly_js()}</script></head><body>"
        f'{header}<nav class="toc no-print">{nav}</nav><main>{body}</main>'
        f"<footer>{foot}<p>Generated {generated} by botfleet {fmt.esc(_version())}.</p></footer>"
        f"<script>{tables.TRADES_JS}</script></body></html>")


def render_comparison_html(results: list, path: str | Path | None = None,
                           title: str = "Backtest comparison") -> str:
    """Several runs side by side (optimiser candidates, walk-forward windows): what each run
    was, its metrics in one table, and the equity curves overlaid as return on capital."""
    if not results:
        raise ValueError("render_comparison_html needs at least one result")
    mod = fmt.load_metrics()
    info = fmt.metric_table()
    ccys = [fmt.quote_currency(r.symbols) for r in results]
    metric_dicts = [_metrics(r, mod) for r in results]
    rows = []
    for i, (r, ccy) in enumerate(zip(results, ccys, strict=True)):
        params = ", ".join(f"{fmt.esc(k)}={fmt.plain(v)}" for k, v in r.params.items())
        rows.append(
            f"<tr><td class=num>{i + 1}</td><td>{fmt.esc(r.name)}</td>"
            f"<td>{fmt.esc(r.strategy)}</td><td>{', '.join(fmt.esc(s) for s in r.symbols)}</td>"
            f"<td>{fmt.esc(r.timeframe)}</td><td>{fmt.ts_text(r.start_ms, False)} → "
            f"{fmt.ts_text(r.end_ms, False)}</td><td class=num>{fmt.money(float(r.capital), ccy)}"
            f"</td><td class=num>{fmt.money(r.final_equity, ccy)}</td>"
            f'<td class="def">{params or fmt.MISSING}</td></tr>')
    runs = ('<div class="table-wrap"><table><thead><tr><th class="num">#</th><th>Run</th>'
            "<th>Strategy</th><th>Pairs</th><th>TF</th><th>Period (UTC)</th>"
            '<th class="num">Capital</th><th class="num">Final equity</th><th>Parameters</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    names = [r.name for r in results]
    body = "".join([
        _section("runs", f"Runs ({len(results)})", runs),
        _section("equity", "Equity (return on capital)",
                 _chart(charts.comparison_figure(results), "chart-compare")),
        _section("metrics", "Metrics", tables.comparison_table(names, metric_dicts, info, ccys)),
    ])
    n_bars = max(len(r.ts) for r in results)
    header = (f'<header class="top"><div class="inner"><h1>{fmt.esc(title)}</h1>'
              f'<div class="sub">{len(results)} runs</div></div></header>')
    page = _page(title=title, header=header,
                 toc=[("runs", "Runs"), ("equity", "Equity"), ("metrics", "Metrics")],
                 body=body, notes=[_decimation_note(n_bars),
                                   "All times are bar open times in UTC."])
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


__all__ = ["render_comparison_html", "render_html"]
