"""The report's tables and definition lists as escaped HTML fragments.

Tables are rendered on the server so the PDF and a browser with scripts off still show them; the
trade list is the exception that grows with the run, so its first page is rendered here and the
whole list travels as JSON for the page's small pager/sorter (`TRADES_JS`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from botfleet.orders import Reason, Reject, Side
from botfleet.reports import fmt

HEADLINE = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "profit_factor",
            "n_trades", "exposure")
PAGE = 50  # trades per page
MAX_EMBEDDED = 20_000  # trades carried in the page; beyond this the list is cut (and says so)


def _enum_label(enum, code: int) -> str:
    try:
        return enum(int(code)).label
    except ValueError:
        return f"code {int(code)}"


def dl(items: dict[str, Any], cls: str = "dl") -> str:
    """A mapping as a definition list; nested mappings become nested lists."""
    if not items:
        return '<p class="muted">none</p>'
    rows = []
    for key, value in items.items():
        inner = dl(value) if isinstance(value, dict) and value else fmt.plain(value)
        rows.append(f"<dt>{fmt.esc(key)}</dt><dd>{inner}</dd>")
    return f'<dl class="{cls}">' + "".join(rows) + "</dl>"


def ordered_keys(keys, table: dict[str, fmt.MetricInfo]) -> list[str]:
    """METRIC_INFO's order first (its author grouped them), unknown keys after, as given."""
    keys = list(keys)
    known = [k for k in table if k in keys]
    return known + [k for k in keys if k not in table]


def _scalar(value: Any) -> bool:
    return not isinstance(value, np.ndarray)


def headline(metrics: dict[str, Any], table, ccy: str) -> str:
    """The few numbers a trader looks at first, as cards above the full table."""
    cards = []
    for key in HEADLINE:
        if key not in metrics:
            continue
        info = fmt.metric_info(key, table)
        value = metrics[key]
        text = fmt.format_metric(key, value, info=info, ccy=ccy)
        tone = ""
        if key in ("total_return", "cagr") and isinstance(value, int | float):
            tone = " pos" if value > 0 else " neg" if value < 0 else ""
        cards.append(f'<div class="card{tone}" title="{fmt.esc(info.definition)}">'
                     f'<div class="card-label">{fmt.esc(info.label)}</div>'
                     f'<div class="card-value">{text}</div></div>')
    return '<div class="cards">' + "".join(cards) + "</div>" if cards else ""


def metrics_table(metrics: dict[str, Any], table, ccy: str) -> str:
    if not metrics:
        return ('<p class="muted">No metrics on this result (botfleet.sim.metrics.compute was '
                "not run and is not available).</p>")
    rows = []
    for key in ordered_keys(metrics, table):
        value = metrics[key]
        if not _scalar(value):
            continue
        info = fmt.metric_info(key, table)
        rows.append(f'<tr><th scope="row">{fmt.esc(info.label)}</th>'
                    f'<td class="num">{fmt.format_metric(key, value, info=info, ccy=ccy)}'
                    f'</td><td class="def">{fmt.esc(info.definition)}</td></tr>')
    return ('<table class="metrics"><thead><tr><th>Metric</th><th class="num">Value</th>'
            "<th>Definition</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def comparison_table(names: list[str], metric_dicts: list[dict], table, ccys: list[str]) -> str:
    """Metrics of several runs side by side: one row per metric, one column per run."""
    keys: list[str] = []
    for m in metric_dicts:
        keys += [k for k in m if k not in keys and _scalar(m[k])]
    head = "".join(f'<th class="num">{i + 1}. {fmt.esc(n)}</th>' for i, n in enumerate(names))
    rows = []
    for key in ordered_keys(keys, table):
        info = fmt.metric_info(key, table)
        cells = "".join(
            f'<td class="num">{fmt.format_metric(key, m[key], info=info, ccy=c)}</td>'
            if key in m else f'<td class="num">{fmt.MISSING}</td>'
            for m, c in zip(metric_dicts, ccys, strict=True))
        rows.append(f'<tr><th scope="row" title="{fmt.esc(info.definition)}">'
                    f"{fmt.esc(info.label)}</th>{cells}</tr>")
    return (f'<table class="metrics"><thead><tr><th>Metric</th>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


TRADE_COLUMNS = ("#", "Pair", "Side", "Entry (UTC)", "Exit (UTC)", "Held", "Amount",
                 "Entry price", "Exit price", "PnL", "Return", "Fees", "Entry reason",
                 "Exit reason")
_NUMERIC = {0, 5, 6, 7, 8, 9, 10, 11}


def _trade_rows(result, ccy: str) -> list[dict]:
    """Each trade's cells as plain text plus a sort key per column (numbers sort as numbers)."""
    ts, rows = result.ts, []
    for i, t in enumerate(result.trades[:MAX_EMBEDDED]):
        t_in, t_out = int(ts[t["entry_bar"]]), int(ts[t["exit_bar"]])
        side = "long" if t["direction"] > 0 else "short"
        symbol = result.symbols[int(t["asset"])]
        cells = [str(i + 1), symbol, side, fmt.ts_text(t_in), fmt.ts_text(t_out),
                 fmt.span_text(float(t_out - t_in)), fmt.number(float(t["amount"])),
                 fmt.price(t["entry_price"]), fmt.price(t["exit_price"]),
                 fmt.money(t["pnl"], "", True), fmt.pct(t["ret"], True), fmt.money(t["fees"]),
                 _enum_label(Reason, t["entry_reason"]), _enum_label(Reason, t["exit_reason"])]
        keys = [i, symbol, side, t_in, t_out, t_out - t_in, float(t["amount"]),
                float(t["entry_price"]), float(t["exit_price"]), float(t["pnl"]),
                float(t["ret"]), float(t["fees"]), cells[12], cells[13]]
        keys = [None if isinstance(k, float) and not np.isfinite(k) else k for k in keys]
        rows.append({"c": cells, "k": keys, "s": 1 if t["pnl"] > 0 else -1 if t["pnl"] < 0
                     else 0})
    return rows


def _row_html(row: dict) -> str:
    tone = {1: "pos", -1: "neg"}.get(row["s"], "")
    cells = []
    for j, text in enumerate(row["c"]):
        cls = ["num"] if j in _NUMERIC else []
        if j in (9, 10) and tone:
            cls.append(tone)
        attr = f' class="{" ".join(cls)}"' if cls else ""
        cells.append(f"<td{attr}>{fmt.esc(text)}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _json_script(data: Any, element_id: str) -> str:
    """JSON inside a non-executing script tag; '<', '>' and '&' are escaped so user text in it
    cannot close the tag."""
    text = (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def trades_table(result, ccy: str) -> str:
    """The trade list: first page rendered, the rest paged and sorted in the browser."""
    n = len(result.trades)
    if not n:
        return '<p class="muted">No trades.</p>'
    rows = _trade_rows(result, ccy)
    cut = (f'<p class="warn">Only the first {MAX_EMBEDDED:,} of {n:,} trades are listed; the '
           "charts and metrics include all of them.</p>" if n > MAX_EMBEDDED else "")
    head = "".join(f'<th data-col="{j}"{" class=num" if j in _NUMERIC else ""}>{fmt.esc(c)}</th>'
                   for j, c in enumerate(TRADE_COLUMNS))
    body = "".join(_row_html(r) for r in rows[:PAGE])
    pnl_label = f"PnL is net of fees, in {fmt.esc(ccy)}; " if ccy else "PnL is net of fees; "
    return (
        f'{cut}<div class="trades" data-total="{n}">'
        '<div class="pager no-print"><input type="search" class="filter" '
        'placeholder="filter: pair, side, reason…" aria-label="filter trades">'
        '<button type="button" class="prev">‹ prev</button><span class="page-info"></span>'
        '<button type="button" class="next">next ›</button></div>'
        f'<div class="table-wrap"><table class="trade-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
        f'<p class="muted small print-note">{pnl_label}return is PnL over the entry notional. '
        f"Showing trades 1–{min(PAGE, n)} of {n:,}"
        '<span class="no-print">; click a column to sort, the pager shows the rest</span>'
        '<span class="print-only">; the HTML report lists all of them</span>.</p>'
        f'{_json_script(rows, "trade-data")}</div>')


def _per_pair_rows(result, metrics_mod) -> dict[str, dict[str, Any]]:
    """sim.metrics.per_pair in whatever shape it returns (mapping of mappings, DataFrame, list of
    records), normalised to {symbol: {metric: value}}."""
    try:
        data = metrics_mod.per_pair(result)
    except Exception:  # noqa: BLE001 - a failing breakdown must not take the report down
        return {}
    if hasattr(data, "to_dict") and hasattr(data, "index"):  # pandas DataFrame
        return {str(k): dict(v) for k, v in data.to_dict(orient="index").items()}
    if isinstance(data, dict):
        return {str(k): (dict(v) if isinstance(v, dict) else {"value": v})
                for k, v in data.items()}
    if isinstance(data, list):
        out = {}
        for rec in data:
            rec = dict(rec)
            out[str(rec.pop("symbol", rec.pop("pair", len(out))))] = rec
        return out
    return {}


def _bookkeeping(result) -> dict[str, dict[str, Any]]:
    """Per-pair sums straight from the trade records, shown when sim.metrics cannot break the
    run down: counts and totals, no statistics."""
    out = {}
    for a, symbol in enumerate(result.symbols):
        t = result.trades[result.trades["asset"] == a]
        out[symbol] = {"n_trades": len(t), "net_pnl": float(t["pnl"].sum()),
                       "fees_paid": float(t["fees"].sum()),
                       "slippage_paid": float(t["slippage"].sum())}
    return out


# Labels for per-pair keys that METRIC_INFO does not carry (METRIC_INFO wins when it does);
# the definitions restate sim.metrics.per_pair's, they compute nothing.
_PAIR_INFO = {
    "pnl": fmt.MetricInfo("Net PnL", "money", "sum of the pair's trade pnl, net of fees"),
    "net_pnl": fmt.MetricInfo("Net PnL", "money", "sum of the pair's trade pnl, net of fees"),
    "return_contribution": fmt.MetricInfo("Return contribution", "pct",
                                          "the pair's net pnl / capital"),
    "n_long": fmt.MetricInfo("Long trades", "int", "round trips entered long"),
    "n_short": fmt.MetricInfo("Short trades", "int", "round trips entered short"),
    "traded_notional": fmt.MetricInfo("Traded notional", "money", "sum of fill amount * price"),
    "n_trades": fmt.MetricInfo("Trades", "int", "round trips closed"),
    "fees_paid": fmt.MetricInfo("Fees", "money", "sum of fees paid"),
    "slippage_paid": fmt.MetricInfo("Slippage", "money", "sum of slippage paid"),
}
_PAIR_FIRST = ("pnl", "net_pnl", "return_contribution", "n_trades", "n_long", "n_short",
               "win_rate", "profit_factor", "expectancy")


def per_pair_table(result, metrics_mod, table, ccy: str) -> str:
    """Each pair's share of the run: one column per pair, one row per metric."""
    data = _per_pair_rows(result, metrics_mod) if metrics_mod is not None else {}
    table = {**_PAIR_INFO, **table}
    note = ""
    if not data:
        data = _bookkeeping(result)
        note = ('<p class="muted small">Totals from the trade records (per-pair statistics '
                "need botfleet.sim.metrics.per_pair).</p>")
    symbols = list(data)
    keys: list[str] = []
    for rec in data.values():
        keys += [k for k in rec if k not in keys and _scalar(rec[k])]
    head = "".join(f'<th class="num">{fmt.esc(s)}</th>' for s in symbols)
    rows = []
    first = [k for k in _PAIR_FIRST if k in keys]
    for key in first + [k for k in ordered_keys(keys, table) if k not in first]:
        info = fmt.metric_info(key, table)
        cells = "".join(
            f'<td class="num">{fmt.format_metric(key, data[s].get(key), info=info, ccy=ccy)}</td>'
            for s in symbols)
        rows.append(f'<tr><th scope="row" title="{fmt.esc(info.definition)}">'
                    f"{fmt.esc(info.label)}</th>{cells}</tr>")
    return (f'<table class="metrics"><thead><tr><th></th>{head}</tr></thead><tbody>'
            + "".join(rows) + f"</tbody></table>{note}")


def coverage_table(result) -> str:
    if not result.coverage:
        return '<p class="muted">No coverage recorded on this result.</p>'
    rows = []
    for c in result.coverage:
        span = c.bars + c.missing
        share = c.missing / span if span else 0.0
        tone = ' class="num warn-cell"' if c.missing else ' class="num"'
        rows.append(f"<tr><td>{fmt.esc(c.symbol)}</td><td>{fmt.ts_text(c.first_ms)}</td>"
                    f"<td>{fmt.ts_text(c.last_ms)}</td><td class=num>{c.bars:,}</td>"
                    f"<td{tone}>{c.missing:,} ({fmt.pct(share)})</td>"
                    f"<td class=src>{fmt.esc(c.source) or fmt.MISSING}</td></tr>")
    return ('<table><thead><tr><th>Pair</th><th>First bar (UTC)</th><th>Last bar (UTC)</th>'
            '<th class="num">Bars</th><th class="num">Missing (gaps)</th><th>Source</th></tr>'
            "</thead><tbody>" + "".join(rows) + "</tbody></table>"
            '<p class="muted small">A missing bar is a bar absent between the first and the last; '
            "the strategy could not trade that pair in it.</p>")


def rejects_table(result, ccy: str) -> str:
    """Orders the exchange would have refused, grouped by pair, side and reason."""
    rj = result.rejects
    if not len(rj):
        return '<p class="muted">No orders were rejected.</p>'
    groups: dict[tuple, list] = defaultdict(list)
    for r in rj:
        groups[(int(r["asset"]), int(r["side"]), int(r["reason"]))].append(r)
    rows = []
    for (a, side, reason), recs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        bars = [int(r["bar"]) for r in recs]
        notional = sum(float(r["amount"]) * float(r["price"]) for r in recs
                       if np.isfinite(r["price"]))
        side_label = Side(side).name.lower() if side in (1, -1) else str(side)
        rows.append(f"<tr><td>{fmt.esc(result.symbols[a])}</td><td>{side_label}</td>"
                    f"<td>{fmt.esc(_enum_label(Reject, reason))}</td>"
                    f"<td class=num>{len(recs):,}</td><td class=num>{fmt.money(notional, ccy)}</td>"
                    f"<td>{fmt.ts_text(result.ts[min(bars)])}</td>"
                    f"<td>{fmt.ts_text(result.ts[max(bars)])}</td></tr>")
    return (f"<p>{len(rj):,} order(s) never reached the book.</p>"
            '<table><thead><tr><th>Pair</th><th>Side</th><th>Reason</th><th class="num">Orders'
            '</th><th class="num">Notional</th><th>First (UTC)</th><th>Last (UTC)</th></tr>'
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


TRADES_JS = """
(function () {
  document.querySelectorAll('.trades').forEach(function (box) {
    var data = JSON.parse(document.getElementById('trade-data').textContent);
    var NUM = [0, 5, 6, 7, 8, 9, 10, 11], PAGE = 50, page = 0, rows = data, col = 0, dir = 1;
    var tbody = box.querySelector('tbody'), info = box.querySelector('.page-info');
    function draw() {
      var pages = Math.max(1, Math.ceil(rows.length / PAGE));
      page = Math.min(Math.max(page, 0), pages - 1);
      tbody.textContent = '';
      rows.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r) {
        var tr = document.createElement('tr');
        r.c.forEach(function (text, j) {
          var td = document.createElement('td');
          td.textContent = text;
          if (NUM.indexOf(j) >= 0) td.classList.add('num');
          if ((j === 9 || j === 10) && r.s) td.classList.add(r.s > 0 ? 'pos' : 'neg');
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      info.textContent = 'page ' + (page + 1) + ' of ' + pages + ' · ' + rows.length +
        (rows.length === data.length ? ' trades' : ' of ' + data.length + ' trades');
    }
    box.querySelector('.prev').onclick = function () { page--; draw(); };
    box.querySelector('.next').onclick = function () { page++; draw(); };
    box.querySelector('.filter').oninput = function (e) {
      var q = e.target.value.toLowerCase();
      rows = !q ? data : data.filter(function (r) {
        return [r.c[1], r.c[2], r.c[12], r.c[13]].join(' ').toLowerCase().indexOf(q) >= 0;
      });
      page = 0; sort();
    };
    function sort() {
      rows = rows.slice().sort(function (a, b) {
        var x = a.k[col], y = b.k[col];
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * dir;
      });
      draw();
    }
    box.querySelectorAll('th[data-col]').forEach(function (th) {
      th.onclick = function () {
        var c = +th.dataset.col;
        dir = c === col ? -dir : (NUM.indexOf(c) >= 0 && c > 0 ? -1 : 1); col = c;
        box.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-sort'); });
        th.setAttribute('data-sort', dir > 0 ? 'asc' : 'desc');
        page = 0; sort();
      };
    });
    draw();
  });
})();
"""
