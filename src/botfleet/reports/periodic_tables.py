"""The periodic trading report's tables and figures, one function per section, from a
`periodic_data.PeriodReport`. Every value passes through `reports.fmt` (escaping, money, times);
a section with nothing in the period says so in words rather than showing an empty table.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import plotly.graph_objects as go

from botfleet.reports import charts, fmt
from botfleet.reports.periodic_data import BotPeriod, PeriodReport

ZERO = Decimal(0)


def _table(head: list[str], rows: list[str], num: set[int] = frozenset()) -> str:
    ths = "".join(f'<th{" class=num" if i in num else ""}>{fmt.esc(h)}</th>'
                  for i, h in enumerate(head))
    return (f'<div class="table-wrap"><table><thead><tr>{ths}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def _td(text: str, num: bool = False, tone: Decimal | float | None = None) -> str:
    cls = ["num"] if num else []
    if tone is not None and tone != 0:
        cls.append("pos" if tone > 0 else "neg")
    return f'<td class="{" ".join(cls)}">{text}</td>' if cls else f"<td>{text}</td>"


def _none(text: str) -> str:
    return f'<p class="muted">{fmt.esc(text)}</p>'


# -- the numbers of a bot or of the fleet ----------------------------------------------------

def equity_stats(points: list[tuple[int, Decimal]]) -> tuple[Decimal | None, Decimal | None,
                                                              float | None, float | None]:
    """(opening equity, closing equity, return, max drawdown) of an equity series."""
    if not points:
        return None, None, None, None
    values = np.array([float(v) for _, v in points])
    first, last = points[0][1], points[-1][1]
    ret = float(last / first - 1) if first else None
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1 - values / peak, 0.0)
    return first, last, ret, float(dd.max()) if len(dd) else 0.0


def fleet_equity(bots: list[BotPeriod]) -> list[tuple[int, Decimal]]:
    """The bots' equity summed at every time any of them recorded a point, each bot carried
    forward from its last point (and back from its first, so a bot's first point is no jump)."""
    series = [b.equity for b in bots if b.equity]
    times = sorted({t for s in series for t, _ in s})
    out = []
    for t in times:
        total = ZERO
        for s in series:
            i = int(np.searchsorted([p[0] for p in s], t, side="right")) - 1
            total += s[max(i, 0)][1]
        out.append((t, total))
    return out


def win_rate(trades: int, wins: int) -> str:
    return fmt.pct(wins / trades) if trades else fmt.MISSING


def bots_table(report: PeriodReport) -> str:
    ccy = report.currency
    head = ["Bot", "Mode", "Realised", "Unrealised", "Opening", "Closing", "Return", "Max DD",
            "Trades", "Win rate", "Orders", "Fills", "Fees", "Cycles", "Failed"]
    rows = []
    for b in report.bots:
        first, last, ret, dd = equity_stats(b.equity)
        errors = sum(b.cycles.get(k, 0) for k in ("error", "timeout", "interrupted"))
        rows.append(_row(b.name, b.mode, b.realised, b.unrealised, first, last, ret, dd,
                         len(b.trades), b.wins, sum(b.orders.values()), b.fills, b.fees_quote,
                         sum(b.cycles.values()), errors))
    if len(report.bots) > 1:
        total = totals(report)
        rows.append(_row("Fleet", "", total["realised"], total["unrealised"],
                         total["opening"], total["closing"], total["return"], total["drawdown"],
                         total["trades"], total["wins"], total["orders"], total["fills"],
                         total["fees"], total["cycles"], total["errors"], bold=True))
    quotes = sorted({b.quote for b in report.bots if b.quote} | ({ccy} if ccy else set()))
    unit = (f'<p class="muted small">Money in {fmt.esc(", ".join(quotes))}. Realised and '
            "unrealised PnL; opening and closing equity; max DD: the deepest fall of equity "
            "from its running peak; failed: cycles that ended in an error or a timeout, or were "
            "interrupted.</p>")
    return _table(head, rows, set(range(2, 15))) + unit


def _row(name, mode, realised, unrealised, first, last, ret, dd, n, wins, orders, fills, fees,
         cycles, errors, bold=False) -> str:
    ccy = ""  # one unit for the whole table, said under it: the columns stay narrow
    label = f"<b>{fmt.esc(name)}</b>" if bold else fmt.esc(name)
    return ("<tr>" + _td(label) + _td(fmt.esc(mode))
            + _td(fmt.money(realised, ccy, True), True, realised)
            + _td(fmt.money(unrealised, ccy, True), True, unrealised)
            + _td(fmt.money(first, ccy), True) + _td(fmt.money(last, ccy), True)
            + _td(fmt.pct(ret, True), True, ret) + _td(fmt.pct(dd), True)
            + _td(f"{n:,}", True) + _td(win_rate(n, wins), True) + _td(f"{orders:,}", True)
            + _td(f"{fills:,}", True) + _td(fmt.money(fees, ccy), True)
            + _td(f"{cycles:,}", True) + _td(f"{errors:,}", True, -errors or None) + "</tr>")


def totals(report: PeriodReport) -> dict:
    """The fleet's figures: sums over the bots, and the return and drawdown of their summed
    equity. Unrealised is unknown (None) when some open position has no price."""
    bots = report.bots
    unreal = [b.unrealised for b in bots]
    first, last, ret, dd = equity_stats(fleet_equity(bots))
    return {
        "realised": sum((b.realised for b in bots), ZERO),
        "unrealised": None if any(u is None for u in unreal) else sum(unreal, ZERO),
        "opening": first, "closing": last, "return": ret, "drawdown": dd,
        "trades": sum(len(b.trades) for b in bots), "wins": sum(b.wins for b in bots),
        "orders": sum(sum(b.orders.values()) for b in bots),
        "fills": sum(b.fills for b in bots), "fees": sum((b.fees_quote for b in bots), ZERO),
        "cycles": sum(sum(b.cycles.values()) for b in bots),
        "errors": sum(sum(b.cycles.get(k, 0) for k in ("error", "timeout", "interrupted"))
                      for b in bots),
    }


# -- figures ---------------------------------------------------------------------------------

def equity_figure(report: PeriodReport) -> go.Figure | None:
    lines = [(b.name, b.equity) for b in report.bots if b.equity]
    if not lines:
        return None
    if len(lines) > 1:
        lines.append(("fleet", fleet_equity(report.bots)))
    fig = go.Figure()
    colours = iter(charts.SERIES_COLOURS * 4)
    for name, pts in lines:
        fig.add_trace(go.Scatter(
            x=[float(t) for t, _ in pts], y=[float(v) for _, v in pts], mode="lines+markers"
            if len(pts) < 60 else "lines", name=fmt.esc(name),
            line={"width": 2.2 if name == "fleet" else 1.4,
                  "color": charts.INK if name == "fleet" else next(colours)},
            hovertemplate="%{x}<br>%{y:,.2f}<extra>" + fmt.esc(name) + "</extra>"))
    fig.update_layout(**charts._layout(380))
    fig.update_yaxes(title_text=f"equity {fmt.esc(report.currency)}".strip())
    return fig


def drawdown_figure(report: PeriodReport) -> go.Figure | None:
    pts = fleet_equity(report.bots)
    if len(pts) < 2:
        return None
    values = np.array([float(v) for _, v in pts])
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1 - values / peak, 0.0)
    return charts.drawdown_figure(np.array([t for t, _ in pts], dtype=np.float64), dd)


# -- trades, positions, orders -------------------------------------------------------------

def trades_table(report: PeriodReport) -> str:
    rows = []
    for b in report.bots:
        ccy = b.quote or report.currency
        for t in b.trades:
            rows.append(
                "<tr>" + _td(fmt.esc(b.name)) + _td(fmt.esc(t.symbol))
                + _td("long" if t.direction > 0 else "short") + _td(fmt.ts_text(t.entry_ms))
                + _td(fmt.ts_text(t.exit_ms)) + _td(fmt.number(float(t.amount)), True)
                + _td(fmt.price(float(t.entry_price)), True)
                + _td(fmt.price(float(t.exit_price)), True)
                + _td(fmt.money(t.pnl, ccy, True), True, t.pnl)
                + _td(fmt.money(t.fees, ccy), True)
                + _td(fmt.pct(t.return_pct, True), True, t.pnl)
                + _td(fmt.esc(t.entry_reason.label)) + _td(fmt.esc(t.exit_reason.label))
                + "</tr>")
    if not rows:
        return _none("No trade was closed in this period.")
    return _table(["Bot", "Pair", "Side", "Entry (UTC)", "Exit (UTC)", "Amount", "Entry price",
                   "Exit price", "PnL", "Fees", "Return", "Entry reason", "Exit reason"],
                  rows, {5, 6, 7, 8, 9, 10})


def positions_table(report: PeriodReport) -> str:
    rows = []
    for b in report.bots:
        ccy = b.quote or report.currency
        for p in b.open_positions:
            price = fmt.price(float(p.price)) if p.price is not None else "no price stored"
            rows.append("<tr>" + _td(fmt.esc(b.name)) + _td(fmt.esc(p.symbol))
                        + _td(fmt.esc(p.amount), True) + _td(fmt.price(float(p.entry_price)), True)
                        + _td(price, True)
                        + _td(fmt.money(p.unrealised, ccy, True), True, p.unrealised) + "</tr>")
    if not rows:
        return _none("No position was open at the end of the period.")
    return _table(["Bot", "Pair", "Amount", "Entry price", "Last close", "Unrealised PnL"],
                  rows, {2, 3, 4, 5})


def orders_table(report: PeriodReport) -> str:
    statuses = sorted({s for b in report.bots for s in b.orders})
    if not statuses:
        return _none("No order was placed in this period.")
    rows = []
    for b in report.bots:
        if not b.orders and not b.fees:
            continue
        other = ", ".join(f"{fmt.money(v)} {fmt.esc(c)}" for c, v in sorted(b.fees.items()) if c)
        rows.append("<tr>" + _td(fmt.esc(b.name))
                    + "".join(_td(f"{b.orders.get(s, 0):,}", True) for s in statuses)
                    + _td(f"{sum(b.orders.values()):,}", True)
                    + _td(fmt.money(b.fees_quote, b.quote or report.currency), True)
                    + _td(other or fmt.MISSING) + "</tr>")
    return _table(["Bot", *statuses, "Total", "Fees (quote)", "Fees (other currencies)"], rows,
                  set(range(1, len(statuses) + 3)))
