"""Walk-forward analysis: optimise on a window, trade the next one with what was found, move on.

Windows are half-open intervals of bar open times, [start, end), in ms UTC:

- rolling: window k trains on [s + k*test, s + k*test + train) and tests on the `test` that
  follows; the in-sample window slides by `test` each time.
- anchored: window k trains on [s, s + train + k*test), always from the first bar.

`s` is the first bar that has warmed-up signals (the data's first candle + the strategy's
warm-up, or --start). Only complete test windows are used; `last` keeps the last N.

Out of sample, the best in-sample parameters are backtested on the test window with signals
computed on the whole history before it (engine.prepare cuts the window after computing), so
the first test bar is already warmed up. Each window starts from the previous window's ending
equity and closes its positions at its end (the fill model's close_at_end), so the stitched
curve is one account traded window after window.

Walk-forward efficiency (WFE), per window: annualised OOS return / annualised IS return, where
annualised return is `metrics` CAGR: (final / start equity) ** (bars per year / bars) - 1, IS
being the best in-sample trial. Overall: CAGR of the stitched OOS curve / the IS annualised
return averaged geometrically over windows: (prod(1 + cagr_is_k)) ** (1 / K) - 1. It is
undefined (None) when the IS return is <= 0: a ratio to a loss says nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from botfleet.data.candles import timeframe_ms
from botfleet.sim.optimize import Settings, evaluate, optimize
from botfleet.sim.space import Space


def duration_ms(text: str) -> int:
    from botfleet.config.units import duration_seconds

    return int(duration_seconds(text) * 1000)


@dataclass(frozen=True)
class Window:
    index: int
    train_start: int
    train_end: int  # exclusive
    test_start: int
    test_end: int  # exclusive


def windows(first_ms: int, end_ms: int, train_ms: int, test_ms: int, mode: str = "rolling",
            last: int | None = None) -> list[Window]:
    """The windows over [first_ms, end_ms) (see the module docstring)."""
    if mode not in ("rolling", "anchored"):
        raise ValueError(f"walk-forward mode {mode!r}: rolling or anchored")
    if train_ms <= 0 or test_ms <= 0:
        raise ValueError("train and test durations must be positive")
    out, k = [], 0
    while True:
        train_start = first_ms if mode == "anchored" else first_ms + k * test_ms
        train_end = first_ms + train_ms + k * test_ms
        test_end = train_end + test_ms
        if test_end > end_ms:
            break
        out.append(Window(k, train_start, train_end, train_end, test_end))
        k += 1
    if not out:
        days = (end_ms - first_ms) / 86_400_000
        raise ValueError(f"the data covers {days:.1f} days, less than one train + test "
                         f"window ({(train_ms + test_ms) / 86_400_000:.1f} days)")
    if last:
        out = [replace(w, index=i) for i, w in enumerate(out[-last:])]
    return out


@dataclass
class WindowReport:
    window: Window
    params: dict[str, Any] | None  # None: no feasible in-sample parameters (flat OOS)
    is_objective: float | None
    is_cagr: float | None
    oos_cagr: float
    oos_return: float
    oos_trades: int
    wfe: float | None
    start_equity: float
    end_equity: float


@dataclass
class WalkForwardReport:
    mode: str
    train_ms: int
    test_ms: int
    objective: str
    windows: list[WindowReport]
    result: Any  # the stitched out-of-sample BacktestResult
    is_annual: float | None
    oos_annual: float
    wfe: float | None
    stability: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_id: int | None = None

    def lines(self) -> list[str]:
        from botfleet.data.quality import iso
        from botfleet.sim.metrics import format_metric

        def pct(v):
            return "n/a" if v is None else f"{v * 100:7.2f}%"

        out = [(f"walk-forward {self.mode}: train {self.train_ms / 86_400_000:g}d, test "
               f"{self.test_ms / 86_400_000:g}d, {len(self.windows)} window(s), objective "
               f"{self.objective}"),
               (f"  {'#':>2}  {'train':<23} {'test':<23} {'IS cagr':>8} {'OOS cagr':>8} "
               f"{'OOS ret':>8} {'trades':>6} {'WFE':>6}  params")]
        for w in self.windows:
            win = w.window
            wfe = "n/a" if w.wfe is None else f"{w.wfe:6.2f}"
            out.append(f"  {win.index:>2}  {iso(win.train_start)[:10]}..{iso(win.train_end)[:10]}"
                       f"  {iso(win.test_start)[:10]}..{iso(win.test_end)[:10]}"
                       f" {pct(w.is_cagr)} {pct(w.oos_cagr)} {pct(w.oos_return)} "
                       f"{w.oos_trades:>6} {wfe:>6}  {w.params if w.params else '(flat)'}")
        m = self.result.metrics
        out.append(f"  out of sample: return {format_metric('total_return', m['total_return'])}"
                   f", CAGR {format_metric('cagr', m['cagr'])}, Sharpe "
                   f"{format_metric('sharpe', m['sharpe'])}, max drawdown "
                   f"{format_metric('max_drawdown', m['max_drawdown'])}")
        out.append(f"  WFE {('n/a' if self.wfe is None else f'{self.wfe:.2f}')} (OOS "
                   f"annualised {pct(self.oos_annual).strip()} / IS annualised "
                   f"{pct(self.is_annual).strip()})")
        for name, s in self.stability.items():
            cv = "n/a" if s.get("cv") is None else f"{s['cv']:.2f}"
            out.append(f"  {name}: {s['values']}  CV {cv}, modal {s['mode']!r} in "
                       f"{s['modal_share'] * 100:.0f}% of windows")
        return out

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        from botfleet.sim.metrics import json_safe

        return {"mode": self.mode, "train_ms": self.train_ms, "test_ms": self.test_ms,
                "objective": self.objective,
                "windows": [{**asdict(w), "window": asdict(w.window)} for w in self.windows],
                "metrics": json_safe(self.result.metrics), "is_annual": self.is_annual,
                "oos_annual": self.oos_annual, "wfe": self.wfe, "stability": self.stability,
                "run_id": self.run_id}


def ratio(oos: float, is_: float | None) -> float | None:
    """WFE: OOS / IS annualised return; None when IS <= 0 (undefined)."""
    if is_ is None or not math.isfinite(is_) or is_ <= 0 or not math.isfinite(oos):
        return None
    return oos / is_


def stability(chosen: list[dict | None]) -> dict[str, dict[str, Any]]:
    """Per parameter: the values chosen per window, their coefficient of variation (population
    std / |mean|; None for text or a zero mean) and the share of windows choosing the mode."""
    rows = [c for c in chosen if c]
    out = {}
    for name in (rows[0] if rows else {}):
        vals = [r[name] for r in rows]
        mode, count = Counter(vals).most_common(1)[0]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals)
        cv = None
        if numeric:
            arr = np.asarray(vals, dtype=np.float64)
            cv = float(arr.std() / abs(arr.mean())) if arr.mean() != 0 else None
        out[name] = {"values": vals, "cv": cv, "mode": mode, "modal_share": count / len(vals)}
    return out


def walk_forward(target, space: Space, settings: Settings, *, mode: str = "rolling",
                 train_ms: int, test_ms: int, last: int | None = None,
                 plugins: dict | None = None) -> WalkForwardReport:
    from botfleet.sim import metrics

    tf_ms = timeframe_ms(target.timeframe)
    first = settings.start_ms
    if first is None:
        warm = int(getattr(target.strategy, "warmup", 0))
        first = max(int(p.candles["ts"][min(warm, len(p.candles) - 1)]) for p in target.pairs)
    end = settings.end_ms + 1 if settings.end_ms is not None else \
        max(int(p.candles["ts"][-1]) for p in target.pairs) + tf_ms
    wins = windows(first, end, train_ms, test_ms, mode, last)
    inner = replace(settings, state_url=None)
    equity = float(target.capital)
    reports, parts = [], []
    for w in wins:
        opt = optimize(target, space, replace(inner, start_ms=w.train_start,
                                              end_ms=w.train_end - 1), plugins)
        best = None if opt.best is None else next(
            t for t in opt.trials if t.params == opt.best and not t.skipped)
        params = opt.best or dict(target.strategy.params)
        oos = evaluate(target, params, w.test_start, w.test_end - 1, capital=equity)
        if best is None:  # nothing feasible in sample: stay out of the market
            oos = _flat(oos, equity)
        m = oos.metrics
        is_cagr = best.metrics.get("cagr") if best else None
        reports.append(WindowReport(w, opt.best, best.values[0] if best else None, is_cagr,
                                    m["cagr"], m["total_return"], int(m["n_trades"]),
                                    ratio(m["cagr"], is_cagr), equity, m["final_equity"]))
        parts.append(oos)
        equity = float(m["final_equity"])
    stitched = stitch(parts, target)
    metrics.compute(stitched)
    is_rates = [r.is_cagr for r in reports if r.is_cagr is not None]
    is_annual = (math.prod(1 + x for x in is_rates) ** (1 / len(is_rates)) - 1) \
        if is_rates and all(x > -1 for x in is_rates) else None
    oos_annual = stitched.metrics["cagr"]
    report = WalkForwardReport(mode, train_ms, test_ms, settings.objectives[0], reports,
                               stitched, is_annual, oos_annual, ratio(oos_annual, is_annual),
                               stability([r.params for r in reports]))
    if settings.state_url:
        report.run_id = _store(report, parts, settings.state_url)
    return report


def _flat(result, equity: float):
    """The window without trading: equity stays where it was."""
    from botfleet.sim import metrics

    n = len(result.ts)
    result.equity, result.cash = np.full(n, equity), np.full(n, equity)
    result.exposure = np.zeros(n)
    result.fills, result.trades = result.fills[:0], result.trades[:0]
    result.rejects = result.rejects[:0]
    result.params = {}
    metrics.compute(result)
    return result


def stitch(parts: list, target):
    """One result from consecutive window results: arrays concatenated, record bar indices
    shifted to the stitched timeline, capital = the first window's."""
    from botfleet.sim.engine import _coverage
    from botfleet.sim.result import BacktestResult

    offsets = np.cumsum([0] + [len(p.ts) for p in parts[:-1]])

    def records(name: str, col: tuple[str, ...]) -> np.ndarray:
        out = []
        for off, p in zip(offsets, parts, strict=True):
            r = getattr(p, name).copy()
            for c in col:
                r[c] += off
            out.append(r)
        return np.concatenate(out)

    ts = np.concatenate([p.ts for p in parts])
    close = np.concatenate([p.close for p in parts])
    tf_ms = timeframe_ms(target.timeframe)
    coverage = [_coverage(s, ts[np.isfinite(close[:, a])], tf_ms, parts[0].coverage[a].source
                          if a < len(parts[0].coverage) else "")
                for a, s in enumerate(parts[0].symbols)]
    first = parts[0]
    return BacktestResult(
        name=f"{first.name} walk-forward", strategy=first.strategy, timeframe=first.timeframe,
        symbols=list(first.symbols), params={}, capital=first.capital, ts=ts, close=close,
        equity=np.concatenate([p.equity for p in parts]),
        cash=np.concatenate([p.cash for p in parts]),
        exposure=np.concatenate([p.exposure for p in parts]),
        fills=records("fills", ("bar",)), trades=records("trades", ("entry_bar", "exit_bar")),
        rejects=records("rejects", ("bar",)), fill_model=first.fill_model, coverage=coverage,
        meta={"windows": [{"start": p.start_ms, "end": p.end_ms, "params": p.params}
                          for p in parts]})


def _store(report: WalkForwardReport, parts: list, url: str) -> int:
    from botfleet.storage.results import ResultStore

    report.result.meta["walkforward"] = {k: v for k, v in report.as_dict().items()
                                         if k not in ("metrics", "run_id")}
    with ResultStore(url) as repo:
        run_id = repo.save(report.result, kind="walkforward")
        for p in parts:
            repo.save(p, kind="walkforward_window", parent_id=run_id)
    return run_id
