"""The daily or weekly trading report: one self-contained HTML page (the same page printed to
PDF by `reports.pdf`) and a short text summary for the message that carries the files.

    report = gather(fleet, period_window("daily"))          # periodic_data
    html_path, pdf_path, note = write_period_report(report, folder)
    text = period_summary(report)

It covers, per bot and for the fleet: realised and unrealised PnL, equity and drawdown,
return, win rate, the closed trades, open positions, orders and fees; the risk events
(refusals by rule, breaker trips, kill switches); the candles missing from the bots' pairs; the
cycles by outcome with their errors. A period with nothing in it says so in one sentence.
Error texts pass through `obs.masking.mask` (when present) so a credential in an exception
never reaches a mailbox.
"""

from __future__ import annotations

from pathlib import Path

from botfleet.reports import fmt
from botfleet.reports.html import _chart, _page, _section
from botfleet.reports.periodic_data import (
    PeriodReport,
    Window,
    gather,
    pair_gaps,
    period_window,
)
from botfleet.reports.periodic_tables import (
    _none,
    _table,
    _td,
    bots_table,
    drawdown_figure,
    equity_figure,
    orders_table,
    positions_table,
    totals,
    trades_table,
    win_rate,
)

TITLES = {"daily": "Daily report", "weekly": "Weekly report"}
NOTHING = ("Nothing happened in this period: no trade, order, fill or cycle, no risk event, "
           "no missing candle.")


def _mask(text: str) -> str:
    try:
        from botfleet.obs.masking import mask
    except ImportError:
        return text
    return mask(text)


def title(report: PeriodReport) -> str:
    return (f"{report.fleet}: {TITLES.get(report.window.period, 'Report').lower()} "
            f"{report.window.label}")


def risk_section(report: PeriodReport) -> str:
    r = report.risk
    if r.empty:
        return _none("No risk event in this period: no refusal, no breaker trip, no kill "
                     "switch.")
    parts = []
    if r.refusals:
        rows = ["<tr>" + _td(fmt.esc(target)) + _td(fmt.esc(rule)) + _td(f"{n:,}", True)
                + "</tr>" for (target, rule), n in sorted(r.refusals.items(),
                                                           key=lambda kv: (-kv[1], kv[0]))]
        parts.append(f"<h3>Refusals by rule ({sum(r.refusals.values()):,})</h3>"
                     + _table(["Target", "Rule", "Refused"], rows, {2}))
    else:
        parts.append(_none("No order was refused by a risk rule."))
    trips = r.breaker_trips + r.breaker_other
    if trips:
        rows = ["<tr>" + _td(fmt.ts_text(e.ts)) + _td(fmt.esc(e.level)) + _td(fmt.esc(e.bot))
                + _td(fmt.esc(e.state)) + _td(fmt.esc(e.rule)) + _td(fmt.esc(_mask(e.detail)))
                + "</tr>" for e in sorted(trips, key=lambda e: e.ts)]
        parts.append(f"<h3>Circuit breakers ({len(r.breaker_trips):,} trip(s))</h3>"
                     + _table(["Time (UTC)", "Level", "Target", "State", "Rule", "Detail"],
                              rows))
    else:
        parts.append(_none("No circuit breaker tripped."))
    if r.kill_switches:
        rows = ["<tr>" + _td(fmt.ts_text(k.engaged_at_ms)) + _td(fmt.esc(k.scope))
                + _td(fmt.esc(k.target or "all")) + _td(fmt.esc(k.mode))
                + _td(fmt.esc(_mask(k.reason))) + _td(fmt.esc(k.actor))
                + _td(fmt.ts_text(k.released_at_ms) if k.released_at_ms else "still engaged")
                + "</tr>" for k in r.kill_switches]
        parts.append(f"<h3>Kill switches ({len(r.kill_switches):,})</h3>"
                     + _table(["Engaged (UTC)", "Scope", "Target", "Mode", "Reason", "By",
                               "Released (UTC)"], rows))
    else:
        parts.append(_none("No kill switch was engaged."))
    return "".join(parts)


def gaps_section(report: PeriodReport) -> str:
    if not report.gaps:
        return _none("No candle series to check (no enabled bot, or no candle store).")
    rows = []
    for g in report.gaps:
        runs = "; ".join(f"{fmt.ts_text(a)} → {fmt.ts_text(b)} ({n:,})"
                         for a, b, n in g.ranges[:10])
        if len(g.ranges) > 10:
            runs += f"; … {len(g.ranges) - 10:,} more"
        rows.append("<tr>" + _td(fmt.esc(g.exchange)) + _td(fmt.esc(g.symbol))
                    + _td(fmt.esc(g.timeframe)) + _td(f"{g.expected:,}", True)
                    + _td(f"{g.missing:,}", True, -g.missing or None)
                    + _td(fmt.esc(g.note) + (" " if g.note and runs else "") + (runs or
                                                                                 fmt.MISSING))
                    + "</tr>")
    missing = sum(g.missing for g in report.gaps)
    lead = (f"<p>{missing:,} candle(s) missing in {sum(1 for g in report.gaps if g.missing)} "
            "series.</p>" if missing else "<p>No candle is missing in this period.</p>")
    return lead + _table(["Exchange", "Pair", "Timeframe", "Expected", "Missing",
                          "Missing runs (UTC)"], rows, {3, 4})


def cycles_section(report: PeriodReport) -> str:
    outcomes = sorted({o for b in report.bots for o in b.cycles})
    if not outcomes:
        return _none("No cycle ran in this period.")
    rows = ["<tr>" + _td(fmt.esc(b.name)) + "".join(_td(f"{b.cycles.get(o, 0):,}", True)
                                                    for o in outcomes) + "</tr>"
            for b in report.bots if b.cycles]
    out = _table(["Bot", *outcomes], rows, set(range(1, len(outcomes) + 1)))
    errors = [(t, b.name, o, e) for b in report.bots for t, o, e in b.errors]
    if errors:
        rows = ["<tr>" + _td(fmt.ts_text(t)) + _td(fmt.esc(name)) + _td(fmt.esc(o))
                + _td(fmt.esc(_mask(e)[:500])) + "</tr>" for t, name, o, e in sorted(errors)]
        out += "<h3>Failed cycles</h3>" + _table(["Started (UTC)", "Bot", "Outcome", "Error"],
                                                 rows)
    return out


def _header(report: PeriodReport) -> str:
    t = totals(report)
    ccy = report.currency
    facts = {
        "Period": f"{fmt.esc(report.window.label)}",
        "Realised PnL": fmt.money(t["realised"], ccy, True),
        "Unrealised PnL": fmt.money(t["unrealised"], ccy, True),
        "Return": fmt.pct(t["return"], True),
        "Max drawdown": fmt.pct(t["drawdown"]),
        "Trades": f"{t['trades']:,}",
        "Win rate": win_rate(t["trades"], t["wins"]),
        "Fees": fmt.money(t["fees"], ccy),
    }
    cells = "".join(f'<div{" class=wide" if k == "Period" else ""}><dt>{k}</dt><dd>{v}</dd></div>'
                    for k, v in facts.items())
    kind = TITLES.get(report.window.period, "Report")
    return (f'<header class="top"><div class="inner"><h1>{fmt.esc(report.fleet)}</h1>'
            f'<div class="sub">{kind} · {len(report.bots)} bot(s)</div>'
            f'<dl class="facts">{cells}</dl></div></header>')


def render_period_html(report: PeriodReport, path: str | Path | None = None) -> str:
    """The report page as an HTML string (also written to `path` if given)."""
    summary = bots_table(report)
    if report.empty:
        summary = f'<p class="warn">{NOTHING}</p>' + summary
    eq, dd = equity_figure(report), drawdown_figure(report)
    equity = (_chart(eq, "chart-period-equity") if eq is not None
              else _none("No equity point was recorded in this period."))
    if dd is not None:
        equity += "<h3>Fleet drawdown</h3>" + _chart(dd, "chart-period-drawdown")
    sections = [
        _section("summary", "Per bot and fleet", summary),
        _section("equity", "Equity", equity),
        _section("trades", "Closed trades", trades_table(report)),
        _section("positions", "Open positions at the end", positions_table(report), flow=True),
        _section("orders", "Orders and fees", orders_table(report), flow=True),
        _section("risk", "Risk events", risk_section(report)),
        _section("gaps", "Data gaps", gaps_section(report), flow=True),
        _section("cycles", "Cycles", cycles_section(report), flow=True),
    ]
    notes = [fmt.esc(n) for n in report.notes] + [(
        "Realised PnL is what the ledger booked in the period, net of fees paid in the quote "
        "currency; unrealised PnL values the positions open at the end at the last closed "
        "candle in the candle store. Return and drawdown are those of the recorded equity "
        "points, from the last point before the period. All times are UTC.")]
    page = _page(title=title(report), header=_header(report), toc=[
        ("summary", "Summary"), ("equity", "Equity"), ("trades", "Trades"),
        ("positions", "Positions"), ("orders", "Orders"), ("risk", "Risk"), ("gaps", "Gaps"),
        ("cycles", "Cycles")], body="".join(sections), notes=notes)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def period_summary(report: PeriodReport) -> str:
    """A few plain lines for the message body (Telegram's text, the email's body)."""
    t = totals(report)
    ccy = report.currency
    lines = [title(report)]
    if report.empty:
        return "\n".join([*lines, NOTHING])
    lines.append(f"PnL: realised {fmt.money(t['realised'], ccy, True)}, unrealised "
                 f"{fmt.money(t['unrealised'], ccy, True)}; return {fmt.pct(t['return'], True)}"
                 f", max drawdown {fmt.pct(t['drawdown'])}")
    lines.append(f"Trades: {t['trades']:,} closed, win rate {win_rate(t['trades'], t['wins'])};"
                 f" orders {t['orders']:,}; fees {fmt.money(t['fees'], ccy)}")
    r = report.risk
    lines.append(f"Risk: {sum(r.refusals.values()):,} refusal(s), {len(r.breaker_trips):,} "
                 f"breaker trip(s), {len(r.kill_switches):,} kill switch(es)")
    missing = sum(g.missing for g in report.gaps)
    lines.append(f"Data gaps: {missing:,} candle(s) missing in "
                 f"{sum(1 for g in report.gaps if g.missing)} series")
    lines.append(f"Cycles: {t['cycles']:,}, {t['errors']:,} failed")
    for b in report.bots:
        if b.active:
            lines.append(f"- {b.name}: realised {fmt.money(b.realised, b.quote or ccy, True)}, "
                         f"{len(b.trades)} trade(s)")
    return "\n".join(lines)


def write_period_report(report: PeriodReport, folder: str | Path, *, pdf: bool = True
                        ) -> tuple[Path, Path | None, str]:
    """Write `<folder>/<period>-<end time>.html` and, if `pdf`, the same page as PDF; returns
    (html, pdf or None, why there is no PDF or '')."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report.window.period}-{fmt.ts_text(report.window.end_ms).replace(' ', '-')}"
    stem = stem.replace(":", "")
    html_path = folder / f"{stem}.html"
    page = render_period_html(report, html_path)
    if not pdf:
        return html_path, None, "PDF not asked for"
    from botfleet.reports.pdf import ChromiumNotFound, print_pdf

    try:
        return html_path, print_pdf(page, folder / f"{stem}.pdf", title(report)), ""
    except (ChromiumNotFound, RuntimeError) as exc:
        return html_path, None, f"no PDF: {exc}"


__all__ = ["PeriodReport", "Window", "gather", "pair_gaps", "period_summary", "period_window",
           "render_period_html", "title", "write_period_report"]
