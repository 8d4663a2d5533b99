"""HTML and PDF backtest reports, on hand-built results.

The browser tests open the page in the system Chromium (never a downloaded one) and check that
plotly actually drew every chart without console errors; they skip, saying why, when playwright
or the browser is missing.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
import zlib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from botfleet.orders import Reason, Reject
from botfleet.reports import charts, fmt, render_comparison_html, render_html
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE
from botfleet.sim.result import BacktestResult, Coverage

HOUR = 3_600_000
T0 = 1_609_459_200_000  # 2021-01-01 00:00 UTC
SHOT_DIR = Path(os.environ.get("BOTFLEET_REPORT_SHOTS", "/tmp"))


def make_result(bars: int = 400, trades_per_pair: int = 12, seed: int = 7,
                name: str = "sma-cross-btc-eth", symbols=("BTC/USDT", "ETH/USDT"),
                params: dict | None = None, with_metrics: bool = True,
                strategy: str = "sma_cross") -> BacktestResult:
    """A two-pair hourly run with non-overlapping trades per pair (long and short, with the
    exit reasons a strategy produces), fills, rejects, indicators and coverage."""
    rng = np.random.default_rng(seed)
    a_n = len(symbols)
    ts = T0 + HOUR * np.arange(bars, dtype=np.int64)
    start = np.array([30_000.0, 2_000.0, 150.0][:a_n])
    close = start * np.exp(np.cumsum(rng.normal(0, 0.01, (bars, a_n)), axis=0))
    close[bars // 3: bars // 3 + 5, 1 % a_n] = np.nan  # a gap in the second pair
    capital = 10_000.0
    reasons = [Reason.SIGNAL, Reason.STOP_LOSS, Reason.TAKE_PROFIT, Reason.TRAILING_STOP,
               Reason.TIME_LIMIT]
    trade_rows, fill_rows = [], []
    for a in range(a_n):
        edges = np.sort(rng.choice(np.arange(1, bars - 1), 2 * trades_per_pair, replace=False))
        for k, (i, j) in enumerate(edges.reshape(-1, 2)):
            i, j = int(i), int(j)
            if not (np.isfinite(close[i, a]) and np.isfinite(close[j, a])):
                continue
            direction = 1 if k % 3 else -1
            amount = 2_000.0 / close[i, a]
            fee = 0.001 * amount * (close[i, a] + close[j, a])
            pnl = direction * amount * (close[j, a] - close[i, a]) - fee
            exit_reason = Reason.END_OF_DATA if j == bars - 2 else reasons[k % len(reasons)]
            trade_rows.append((a, direction, i, j, amount, close[i, a], close[j, a], pnl,
                               pnl / (amount * close[i, a]), fee, 0.2, Reason.SIGNAL,
                               exit_reason))
            fill_rows.append((i, a, direction, 0, 0, 0, amount, close[i, a], fee / 2, 0.1))
            fill_rows.append((j, a, -direction, 0, int(exit_reason), 0, amount, close[j, a],
                              fee / 2, 0.1))
    trades = np.array(sorted(trade_rows, key=lambda r: (r[2], r[0])), dtype=TRADE_DTYPE)
    fills = np.array(sorted(fill_rows), dtype=FILL_DTYPE)
    realised = np.zeros(bars)
    np.add.at(realised, trades["exit_bar"], trades["pnl"])
    equity = capital + np.cumsum(realised) + rng.normal(0, 15, bars).cumsum() * 0.1
    exposure = np.zeros(bars)
    for t in trades:
        exposure[t["entry_bar"]:t["exit_bar"]] += 0.2
    rejects = np.array([(5, 0, 1, Reject.MIN_NOTIONAL, 0.0001, close[5, 0]),
                        (9, 0, 1, Reject.MIN_NOTIONAL, 0.0002, close[9, 0]),
                        (20, 1 % a_n, -1, Reject.SHORT_NOT_ALLOWED, 0.5, close[20, 1 % a_n])],
                       dtype=REJECT_DTYPE)
    series = {}
    for a, s in enumerate(symbols):
        prefix = f"{s} " if a_n > 1 else ""
        c = close[:, a]
        fast = np.convolve(np.nan_to_num(c, nan=c[0]), np.ones(10) / 10, mode="full")[:bars]
        fast[:9] = np.nan
        series[prefix + "sma_fast"] = fast
        series[prefix + "rsi"] = 50 + 20 * np.sin(np.arange(bars) / 15)  # its own panel
    result = BacktestResult(
        name=name, strategy=strategy, timeframe="1h", symbols=list(symbols),
        params=params if params is not None else {"fast": 10, "slow": 30,
                                                  "stop": {"kind": "pct", "value": 0.02}},
        capital=Decimal(capital), ts=ts, close=close, equity=equity, cash=equity.copy(),
        exposure=exposure, fills=fills, trades=trades, rejects=rejects,
        fill_model={"market orders": "fill at the next bar's open, 5 bps slippage",
                    "fees": "maker 0.1000%, taker 0.1000% of notional",
                    "shorts": "allowed"},
        coverage=[Coverage(s, int(ts[0]), int(ts[-1]), bars - (5 if a == 1 else 0),
                           5 if a == 1 else 0, f"file:///data/binance_{s.replace('/', '-')}.csv")
                  for a, s in enumerate(symbols)],
        series=series, meta={"run_id": "run-42", "command": "botfleet backtest sma"},
    )
    if with_metrics and (mod := fmt.load_metrics()) is not None:
        mod.compute(result)
    return result


def _plotly_divs(page: str) -> list[str]:
    return re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)


def _markers(page: str, kind: str) -> int:
    """Hover labels of trade markers in the figures' JSON (plotly escapes '<' and '/' there)."""
    plain = page.replace("\\u003c", "<").replace("\\u002f", "/").replace("\\u003e", ">")
    return plain.count(f"{kind}</b>")


def _trade_data(page: str) -> list[dict]:
    raw = re.search(r'<script type="application/json" id="trade-data">(.*?)</script>', page,
                    re.DOTALL).group(1)
    return json.loads(raw)


# ----------------------------------------------------------------------------- HTML content

def test_html_has_every_section_and_chart():
    r = make_result()
    page = render_html(r)
    for sid in ("summary", "drawdown", "monthly", "metrics", "pairs", "trades", "per-pair",
                "params", "fill-model", "coverage", "rejects"):
        assert re.search(f'<section class="sec( flow)?" id="{sid}">', page), sid
    # equity, drawdown, monthly and one price chart per pair
    assert _plotly_divs(page) == ["chart-equity", "chart-drawdown", "chart-monthly",
                                  "chart-price-0", "chart-price-1"]
    assert page.count("Plotly.newPlot(") == 5
    for text in ("sma-cross-btc-eth", "BTC/USDT", "ETH/USDT", "run-42", "10,000.00 USDT",
                 "fill at the next bar&#x27;s open", "short_not_allowed", "min_notional"):
        assert text in page, text


def test_trade_list_counts_and_reasons():
    r = make_result(trades_per_pair=40)
    page = render_html(r)
    rows = _trade_data(page)
    assert len(rows) == len(r.trades) > 50
    assert f"Trades ({len(r.trades)})" in page
    # first page pre-rendered on the server (PDF and script-less viewers see it)
    body = re.search(r'<table class="trade-table">.*?<tbody>(.*?)</tbody>', page,
                     re.DOTALL).group(1)
    assert body.count("<tr>") == tables_page()
    first = r.trades[0]
    assert rows[0]["c"][1] == r.symbols[first["asset"]]
    assert rows[0]["c"][2] == ("long" if first["direction"] > 0 else "short")
    assert rows[0]["c"][12] == Reason(int(first["entry_reason"])).label
    assert {row["c"][13] for row in rows} >= {"stop_loss", "take_profit", "signal"}
    # every trade has its two markers on the price charts, not decimated
    assert _markers(page, "entry") == len(r.trades)
    assert _markers(page, "exit") == len(r.trades)


def tables_page() -> int:
    from botfleet.reports import tables

    return tables.PAGE


def test_metrics_table_uses_metric_info_labels_and_formats():
    r = make_result()
    r.metrics = {"total_return": 0.1234, "sharpe": 1.5, "profit_factor": float("inf"),
                 "sortino": float("nan"), "n_trades": 24, "max_drawdown_duration_s": 3 * 86_400
                 + 7200, "my_custom_score": 0.000123456, "flag": None, "big": 1234567.891}
    page = render_html(r)
    table = re.search(r'<table class="metrics">.*?</table>', page, re.DOTALL).group(0)
    assert "12.34%" in table
    assert "∞" in table and "—" in table  # inf and NaN/None render, not crash
    assert "3d 2h" in table  # duration in seconds, as sim.metrics defines it
    assert "My custom score" in table and "0.0001235" in table  # unknown keys still render
    assert "1,234,567.89" in table
    if fmt.load_metrics() is not None:
        assert "Total return" in table and "Profit factor" in table


def test_user_text_is_escaped():
    evil = "<script>alert('x')</script>"
    r = make_result(name=evil, params={"note": evil, evil: 1})
    r.fill_model = {"slippage": evil}
    r.meta["command"] = evil
    page = render_html(r)
    assert evil not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    # the only script tags are ours: plotly.js, one per chart, trade data, the trade pager
    assert len(re.findall(r"<script", page)) == 1 + 5 + 1 + 1


def test_symbol_text_is_escaped_everywhere():
    """Symbols reach the header, charts, tables and the trade list's JSON."""
    evil = "</script><img src=x onerror=alert(1)>/USDT"
    r = make_result(symbols=("BTC/USDT", evil))
    page = render_html(r)
    assert "<img" not in page
    assert any(row["c"][1] == evil for row in _trade_data(page))  # intact after JSON decoding
    assert len(re.findall(r"<script", page)) == 1 + 5 + 1 + 1


def test_escaping_in_comparison_and_series_names():
    evil = "</script><b>x"
    r = make_result(name=evil)
    r.series = {f"BTC/USDT {evil}": r.close[:, 0]}
    page = render_html(r)
    assert "</script><b>" not in page
    cmp_page = render_comparison_html([r, make_result(seed=3)])
    assert "</script><b>" not in cmp_page


def test_page_is_self_contained():
    page = render_html(make_result())
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page)
    assert page.count("* plotly.js v") == 1  # inlined, exactly once


def test_hover_dates_are_formatted_by_the_axis():
    """x values are ms numbers; plotly.js parses a hovertemplate's %{x|fmt} value as a date
    string, so the format must come from the axis (hoverformat) instead."""
    page = render_html(make_result())
    assert "%{x|" not in page
    assert page.count('"hoverformat":"%Y-%m-%d %H:%M"') >= 4


def test_long_series_are_decimated_but_trades_are_not():
    bars = 30_000
    r = make_result(bars=bars, trades_per_pair=300, with_metrics=False)
    y = r.close[:, 0]
    keep = charts.decimate(y)
    assert len(keep) <= 2 * charts.BUCKETS + 2
    assert np.nanmax(y[keep]) == np.nanmax(y) and np.nanmin(y[keep]) == np.nanmin(y)
    page = render_html(r)
    assert _markers(page, "entry") == len(r.trades) == 600
    assert f"of the {bars:,} bars" in page  # the footnote says how
    if fmt.load_metrics() is not None:  # computed for the page, on a copy of the result
        assert "Sharpe" in page and r.metrics == {}


def test_decimate_keeps_gaps_and_short_lines_whole():
    assert np.array_equal(charts.decimate(np.arange(100.0)), np.arange(100))
    y = np.sin(np.arange(50_000) / 100.0)
    y[10_000:12_000] = np.nan
    keep = charts.decimate(y)
    assert np.isnan(y[keep]).any()  # a gap stays a gap
    assert keep[0] == 0 and keep[-1] == len(y) - 1


def test_indicators_overlay_or_panel():
    r = make_result()
    fig = charts.price_figure(r, 0, "USDT")
    by_name = {t.name: t for t in fig.data}
    assert by_name["sma_fast"].yaxis in (None, "y")  # on the price axis
    assert by_name["rsi"].yaxis == "y2"  # its own panel


def test_empty_run_renders():
    r = make_result(trades_per_pair=0)
    r.rejects = r.rejects[:0]
    r.coverage = []
    page = render_html(r)
    assert "No trades." in page and "No orders were rejected." in page


def test_comparison_page():
    runs = [make_result(seed=s, name=f"window {s}", params={"fast": s}) for s in (1, 2, 3)]
    page = render_comparison_html(runs)
    assert _plotly_divs(page) == ["chart-compare"]
    assert all(f"window {s}" in page for s in (1, 2, 3))
    assert "fast=1" in page
    with pytest.raises(ValueError):
        render_comparison_html([])


@pytest.mark.parametrize(("key", "value", "info", "text"), [
    ("x", float("inf"), fmt.MetricInfo("X", "ratio", ""), "∞"),
    ("x", "-inf", fmt.MetricInfo("X", "ratio", ""), "−∞"),  # json_safe's stored form
    ("x", float("nan"), fmt.MetricInfo("X", "pct", ""), "—"),
    ("x", None, fmt.MetricInfo("X", "money", ""), "—"),
    ("x", -1234.5, fmt.MetricInfo("X", "money", ""), "-1,234.50 USDT"),
    ("x", 0.0525, fmt.MetricInfo("X", "pct", ""), "5.25%"),
    ("x", 90_061, fmt.MetricInfo("X", "duration", ""), "1d 1h"),
    ("x", T0, fmt.MetricInfo("X", "timestamp", ""), "2021-01-01 00:00"),
    ("x", 12.0, fmt.MetricInfo("X", "int", ""), "12"),
    ("x", {"a": "<b>"}, fmt.MetricInfo("X", "", ""), "{&quot;a&quot;: &quot;&lt;b&gt;&quot;}"),
    ("x", True, fmt.MetricInfo("X", "", ""), "yes"),
])
def test_format_metric(key, value, info, text):
    assert fmt.format_metric(key, value, info=info, ccy="USDT") == text


def test_price_and_span_text():
    assert fmt.price(43_210.123) == "43,210.12"
    assert fmt.price(0.00001234) == "0.0000123400"
    assert fmt.span_text(3 * 3_600_000 + 60_000) == "3h 1m"
    assert fmt.quote_currency(["BTC/USDT", "ETH/USDT:USDT"]) == "USDT"
    assert fmt.quote_currency(["BTC/USDT", "ETH/BTC"]) == ""


def test_writes_file(tmp_path):
    out = tmp_path / "r.html"
    page = render_html(make_result(), out)
    assert out.read_text(encoding="utf-8") == page


# ----------------------------------------------------------------------------- browser

def _browser():
    """(sync_playwright, executable) or skip, naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    from botfleet.reports.pdf import ChromiumNotFound, find_chromium

    try:
        return sync_playwright, find_chromium()
    except ChromiumNotFound as exc:
        pytest.skip(str(exc))


LAUNCH_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync")

# What plotly drew for each chart: tick labels per axis direction (all axes, whatever their
# class: xtick, x2tick, ...), the x range, long line paths and heat-map images.
DRAWN_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => ({
  id: d.id,
  xlabels: Array.from(d.querySelectorAll('.xaxislayer-above text'))
    .map(t => t.textContent).filter(t => t.trim()),
  ylabels: Array.from(d.querySelectorAll('.yaxislayer-above text'))
    .map(t => t.textContent).filter(t => t.trim()),
  range: (d._fullLayout.xaxis.type === 'date')
    ? d._fullLayout.xaxis.range.map(v => new Date(v.replace(' ', 'T') + 'Z').getTime()) : null,
  lines: Array.from(d.querySelectorAll('.main-svg .scatterlayer .js-line'))
    .filter(p => (p.getAttribute('d') || '').length > 200).length,
  heat: d.querySelectorAll('.main-svg .hm image').length}))"""


def test_plots_render_in_chromium(tmp_path):
    sync_playwright, exe = _browser()
    r = make_result(bars=2_000, trades_per_pair=60)
    src = tmp_path / "report.html"
    render_html(r, src)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=list(LAUNCH_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda req: requests.append(req.url))
            page.goto(src.as_uri(), wait_until="load")
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length"
                                   " === 5", timeout=30_000)
            drawn = page.evaluate(DRAWN_JS)
            assert [p["id"] for p in drawn] == ["chart-equity", "chart-drawdown",
                                                "chart-monthly", "chart-price-0",
                                                "chart-price-1"]
            # x tick labels of every x axis: stacked subplots share their x axis and label it
            # under the bottom panel only (class x2tick), so '.xtick' alone finds none there
            assert all(len(p["xlabels"]) >= 3 for p in drawn), drawn
            assert all(len(p["ylabels"]) >= (1 if p["id"] == "chart-monthly" else 3)
                       for p in drawn), drawn  # the heat map's y labels are its years
            for p in drawn:
                if p["id"] != "chart-monthly":  # date axes read as dates, not ms numbers
                    assert all(re.fullmatch(r"(\w{3} \d{1,2}|\w{3})?\s*(20\d\d)?", t.strip())
                               and t.strip() for t in p["xlabels"]), p
                    # the axis spans the bars, not a marker padding of months around them
                    lo, hi = p["range"]
                    span = float(r.ts[-1] - r.ts[0])
                    assert r.ts[0] - 0.02 * span <= lo <= r.ts[0]
                    assert r.ts[-1] <= hi <= r.ts[-1] + 0.02 * span
            assert drawn[2]["xlabels"][:3] == ["Jan", "Feb", "Mar"], drawn[2]
            assert all(p["lines"] >= 1 for p in drawn if p["id"] != "chart-monthly"), drawn
            assert drawn[2]["heat"] >= 1, drawn
            # each pair's chart sits under its own heading (a plotly title overlapped the legend)
            assert page.locator(".pair-chart > h3").all_inner_texts() == list(r.symbols)
            # the hover label is a date, not a millisecond number
            page.hover("#chart-equity .nsewdrag")
            hover = page.text_content("#chart-equity .hoverlayer") or ""
            if "equity" in hover:  # a hover label appeared: its time must read as a date
                assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", hover), hover
            # markers drawn: one point per entry and per exit
            points = page.evaluate("""() => Array.from(document.querySelectorAll(
                '.js-plotly-plot[id^=chart-price] .scatterlayer .points path')).length""")
            assert points >= 2 * len(r.trades)
            # the pager: next page, then sorting by PnL descending puts the best trade first
            page.click(".trades .next")
            assert "page 2 of" in page.inner_text(".page-info")
            page.click('th[data-col="9"]')
            best = page.inner_text(".trade-table tbody tr:first-child td:nth-child(10)")
            assert float(best.replace(",", "")) == pytest.approx(r.trades["pnl"].max(), abs=0.01)
            page.screenshot(path=str(SHOT_DIR / "botfleet_report.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests


def _pdf_text(data: bytes) -> list[str]:
    """Each page's text of a PDF printed by Chromium, without a PDF library (pypdf is not a
    dependency): Skia writes text as hex glyph ids (`<0037004B> Tj`, or TJ arrays split at
    kerning) in Flate streams, and each font's ToUnicode CMap maps the ids back to characters.
    Returned NFKC-normalised ('ﬁ' -> 'fi') with all whitespace removed, for substring checks."""
    objs = {int(n): body for n, body in
            re.findall(rb"(?m)^(\d+) 0 obj\s*(.*?)endobj", data, re.DOTALL)}

    def stream(body: bytes) -> bytes:
        m = re.search(rb"stream\r?\n(.*)endstream", body, re.DOTALL)
        if not m:
            return b""
        return zlib.decompress(m.group(1)) if b"/FlateDecode" in body else m.group(1)

    def cmap(n: int) -> dict[int, str]:
        text, out = stream(objs[n]), {}
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.DOTALL):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                out[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.DOTALL):
            for lo, hi, dst in re.findall(
                    rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                base = bytes.fromhex(dst.decode()).decode("utf-16-be")
                for k in range(int(lo, 16), int(hi, 16) + 1):
                    out[k] = base[:-1] + chr(ord(base[-1]) + k - int(lo, 16))
        return out

    maps = {n: cmap(int(m.group(1))) for n, body in objs.items()
            if re.search(rb"/Type\s*/Font\b", body)
            and (m := re.search(rb"/ToUnicode (\d+) 0 R", body))}
    pages = []
    for body in objs.values():
        if not re.search(rb"/Type\s*/Page\b", body):
            continue
        res = body
        if m := re.search(rb"/Resources (\d+) 0 R", body):
            res = objs[int(m.group(1))]
        fonts = {}
        if m := re.search(rb"/Font\s*<<(.*?)>>", res, re.DOTALL):
            fonts = {name: int(ref) for name, ref in re.findall(rb"/(\w+) (\d+) 0 R", m.group(1))}
        refs = re.search(rb"/Contents\s*(\[[^\]]*\]|\d+ 0 R)", body).group(1)
        content = b"".join(stream(objs[int(r)]) for r in re.findall(rb"(\d+) 0 R", refs))
        runs, current = [], {}
        for tf, shown in re.findall(
                rb"/(\w+) [\d.]+ Tf|(\[[^\]]*\]\s*TJ|<[0-9A-Fa-f]*>\s*Tj)", content):
            if tf:
                current = maps.get(fonts.get(tf, -1), {})
                continue
            runs.append("".join(current.get(int(h[i:i + 4], 16), "\ufffd")
                                for h in re.findall(rb"<([0-9A-Fa-f]*)>", shown)
                                for i in range(0, len(h), 4)))
        pages.append("".join(unicodedata.normalize("NFKC", "".join(runs)).split()))
    return pages


def _has(page_text: str, phrase: str) -> bool:
    return "".join(phrase.split()) in page_text


def test_pdf(tmp_path):
    """Five years of hourly bars on two pairs, printed: A4 landscape, the charts drawn, one
    section per page where it fits, the strategy and metric labels in the text."""
    _browser()
    from botfleet.reports import render_pdf

    r = make_result(bars=5 * 365 * 24, trades_per_pair=150, name="pdf-run",
                    strategy="PDF strategy Alpha")
    out = tmp_path / "report.pdf"
    t = time.perf_counter()
    render_pdf(r, out)
    elapsed = time.perf_counter() - t
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes and all(abs(float(w) - 841.89) < 1 and abs(float(h) - 595.28) < 1
                         for w, h in boxes), boxes[:3]  # A4 landscape in points
    pages = _pdf_text(data)
    assert 7 <= len(pages) <= 16, len(pages)
    text = "".join(pages)
    for phrase in ("PDF strategy Alpha", "pdf-run", "Total return", "Max drawdown",
                   "Profit factor", "BTC/USDT", "ETH/USDT", f"Trades ({len(r.trades)})"):
        assert _has(text, phrase), phrase
    # page 1: the header, the headline cards and the equity chart with its axis labels
    assert all(_has(pages[0], p) for p in ("Summary", "Total return", "equity USDT", "2022"))
    # the metric table starts a page; each pair's price chart has a page of its own
    assert any(p.startswith("Metrics") for p in pages)
    charts = [i for i, p in enumerate(pages) if _has(p, "longentry") and _has(p, "exit")]
    assert len(charts) == 2 and charts[1] == charts[0] + 1, charts
    assert "page1of" in pages[0] and f"page{len(pages)}of{len(pages)}" in pages[-1]
    assert b"/Outlines" in data  # bookmarks for the sections
    assert elapsed < 60, elapsed
    (SHOT_DIR / "botfleet_report.pdf").write_bytes(data)


def test_pdf_fails_when_charts_do_not_render(tmp_path):
    """A chart script that throws must fail the PDF at once, not print empty chart boxes."""
    _browser()
    from botfleet.reports import render_pdf

    r = make_result()
    broken = render_html(r).replace("Plotly.newPlot(", "Plotly.noSuchCall(", 1)
    t = time.perf_counter()
    with pytest.raises(RuntimeError, match="charts failed to render"):
        render_pdf(r, tmp_path / "broken.pdf", html=broken)
    assert time.perf_counter() - t < 30
    assert not (tmp_path / "broken.pdf").exists()


def test_missing_browser_is_named(monkeypatch):
    from botfleet.reports import pdf

    monkeypatch.setenv(pdf.ENV_VAR, "/nonexistent/chrome")
    monkeypatch.setattr(pdf, "CANDIDATES", ("/nonexistent/chromium", "no-such-browser-xyz"))
    with pytest.raises(pdf.ChromiumNotFound) as exc:
        pdf.find_chromium()
    msg = str(exc.value)
    assert "/nonexistent/chrome" in msg and "no-such-browser-xyz" in msg
