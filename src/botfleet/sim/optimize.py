"""Parameter optimisation: a grid over the search space, or an Optuna study (`sim.study`).

Library functions with plain inputs and outputs (Prefect-ready: a flow passes `Settings`, gets
`OptimizeResult.as_dict()`; nothing is kept in module state). The target — a strategy factory
with its candles and fill model, `cli_research.Target` — is an object because candles are
arrays; worker processes are forked, so it is never pickled.

The grid's fast path is what makes a grid cheap: for one pair with market entries, each
combination only changes the entry/exit signals, so the arrays of one `engine.prepare` are
reused, every combination's signals are computed (sharing indicator steps through
`program.step_cache`), and `kernel.simulate_grid` trades all columns at once in parallel
without keeping curves. Columns go in chunks so that memory does not grow with the grid.
Anything else (several pairs, limit entries, parameters that change stops) takes the full
path: `engine.backtest` per combination in a pool of forked processes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from botfleet.sim import objectives as objs
from botfleet.sim.objectives import TABLE_METRICS, Objective
from botfleet.sim.space import MAX_GRID, Space
from botfleet.sim.trialcount import tick

CACHE_BYTES = 256 << 20  # step cache per process


@dataclass
class Settings:
    """How to search (all plain values: storable, sendable to a Prefect task)."""

    method: str = "grid"  # grid, tpe or nsga2
    objectives: list[str] = field(default_factory=lambda: ["sharpe"])
    trials: int = 100
    jobs: int | None = None  # worker processes; None = os.cpu_count()
    min_trades: int = 1
    seed: int | None = None
    study: str | None = None  # Optuna study name (resumable); default from target + method
    state_url: str | None = None  # store the study and its trials as runs here
    start_ms: int | None = None
    end_ms: int | None = None
    max_grid: int = MAX_GRID
    fast: bool = True  # allow the grid fast path
    plugin_dirs: list[str] = field(default_factory=list)  # folders with OBJECTIVES plugins

    @property
    def workers(self) -> int:
        return max(1, self.jobs or os.cpu_count() or 1)


@dataclass
class Trial:
    params: dict[str, Any]
    metrics: dict[str, float] | None  # TABLE_METRICS (+ plugin inputs); None when skipped
    values: list[float] | None = None  # one per objective
    feasible: bool = True  # n_trades >= min_trades
    skipped: str | None = None  # why the combination could not run (compile error)


@dataclass
class OptimizeResult:
    method: str
    objectives: list[str]
    directions: list[str]
    trials: list[Trial]
    best: dict[str, Any] | None  # best feasible parameters (first objective for several)
    front: list[int]  # indices into trials of the Pareto front (several objectives)
    skipped: int
    elapsed_s: float
    path: str  # "fast", "full" or "optuna"
    study: str | None = None
    run_id: int | None = None  # the stored study run
    notes: list[str] = field(default_factory=list)

    def table(self):
        """Parameters, objective values and metrics per evaluated trial, best first
        (infeasible trials after the feasible ones)."""
        import pandas as pd

        rows = []
        for i, t in enumerate(self.trials):
            if t.skipped:
                continue
            row = {"trial": i, **t.params}
            row |= {f"obj:{n}": v for n, v in zip(self.objectives, t.values, strict=True)}
            row |= {k: t.metrics.get(k) for k in TABLE_METRICS}
            row["feasible"] = t.feasible
            if len(self.objectives) > 1:
                row["pareto"] = i in self.front
            rows.append(row)
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        key = f"obj:{self.objectives[0]}"
        asc = self.directions[0] == "minimize"
        return frame.sort_values(["feasible", key], ascending=[False, asc],
                                 kind="stable").reset_index(drop=True)

    def as_dict(self) -> dict[str, Any]:
        from botfleet.sim.metrics import json_safe

        out = asdict(self)
        out["trials"] = [{**asdict(t), "metrics": json_safe(t.metrics or {})}
                         for t in self.trials]
        return out


# ----------------------------------------------------------------------------- evaluation

def keyed(strategy):
    """Let a compiled YAML strategy's steps be shared through the step cache."""
    compiler = getattr(strategy, "compiler", None)
    if compiler is not None:
        compiler.program.use_keys(compiler.shared)
    return strategy


def compile_params(target, params: dict):
    """The strategy with `params`, or the error text when this combination cannot compile
    (a constraint such as fast < slow the declarations cannot express)."""
    from botfleet.strategy.errors import StrategyError

    try:
        return keyed(target.factory(params)), None
    except (StrategyError, ValueError, TypeError) as exc:
        return None, " ".join(str(exc).split())[:300]


def evaluate(target, params: dict, start_ms: int | None = None, end_ms: int | None = None,
             capital=None):
    """The full backtest of one combination (`engine.backtest`)."""
    from botfleet.sim.engine import backtest

    strategy, error = compile_params(target, params)
    if strategy is None:
        raise ValueError(error)
    return backtest(strategy, target.pairs, target.timeframe,
                    capital if capital is not None else target.capital, target.fills,
                    name=target.name, sizing=target.sizing, start_ms=start_ms, end_ms=end_ms)


def score(trial: Trial, objectives: list[Objective], min_trades: int) -> Trial:
    if trial.metrics is not None:
        trial.values = [o.value(trial.metrics) for o in objectives]
        trial.feasible = float(trial.metrics.get("n_trades", 0)) >= min_trades
    return trial


def _full_chunk(target, combos: list[tuple[int, dict]], start_ms, end_ms,
                extra: tuple[str, ...]) -> list[tuple[int, dict | None, str | None]]:
    from botfleet.strategy.program import step_cache

    out = []
    with step_cache(CACHE_BYTES):
        for i, params in combos:
            try:
                m = evaluate(target, params, start_ms, end_ms).metrics
            except ValueError as exc:
                out.append((i, None, str(exc)))
                tick()
                continue
            keep = {k: float(m[k]) for k in (*TABLE_METRICS, *extra) if k in m}
            out.append((i, keep, None))
            tick()  # a caller's progress bar (trialcount), also from a forked worker
    return out


def fork_map(fn, items: list, jobs: int) -> list:
    """fn(chunk) for `jobs` interleaved chunks of items, each in a forked process; results
    concatenated. Forked, not spawned: the target's closures and arrays are inherited, not
    pickled. Only results (small dicts) travel back, through one pipe per worker."""
    jobs = min(jobs, len(items))
    if jobs <= 1 or "fork" not in mp.get_all_start_methods():
        return fn(items)
    ctx = mp.get_context("fork")
    procs = []
    for k in range(jobs):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(fn, items[k::jobs], send), daemon=True)
        p.start()
        send.close()
        procs.append((p, recv))
    out, errors = [], []
    for p, recv in procs:
        try:
            status, payload = recv.recv()
        except EOFError:
            status, payload = "error", f"worker {p.pid} died (exit code {p.exitcode})"
        p.join()
        (out.extend if status == "ok" else errors.append)(payload)
    if errors:
        raise RuntimeError("optimisation worker failed:\n" + "\n".join(errors))
    return out


def _child(fn, chunk, send) -> None:
    try:
        result = ("ok", fn(chunk))
    except BaseException:  # noqa: BLE001 - the parent reports it with the traceback
        result = ("error", traceback.format_exc())
    send.send(result)
    send.close()


# ----------------------------------------------------------------------------- grid

def grid(target, space: Space, settings: Settings, plugins: dict | None = None
         ) -> OptimizeResult:
    """Every combination of `space`; the best by the first objective."""
    t0 = time.perf_counter()
    objectives = objs.resolve(settings.objectives, plugins)
    combos = [{**space.fixed, **c} for c in space.grid(settings.max_grid)]
    extra = _plugin_inputs(objectives)
    trials, path, notes = None, "full", []
    if settings.fast:
        from botfleet.sim.gridfast import fast_grid

        trials, why = fast_grid(target, combos, settings)
        if trials is not None:
            path = "fast"
            tick(len(trials))  # one vectorised pass: all at once
        else:
            notes.append(f"full path: {why}")
    if trials is None:
        def run(chunk):
            return _full_chunk(target, chunk, settings.start_ms, settings.end_ms, extra)

        items = list(enumerate(combos))
        # the first in this process: forked workers then inherit the compiled kernel instead
        # of each loading it (seconds per worker)
        rows = run(items[:1]) + fork_map(run, items[1:], settings.workers)
        trials = [None] * len(combos)
        for i, m, err in rows:
            trials[i] = Trial(combos[i], m, skipped=err)
    try:
        for t in trials:
            score(t, objectives, settings.min_trades)
    except KeyError as exc:
        raise ValueError(f"an objective reads metric {exc} which the {path} path does not "
                         f"compute (it has: {', '.join(sorted(trials[0].metrics or {}))})"
                         ) from None
    result = finish(trials, objectives, "grid", path, t0, notes)
    if settings.state_url:
        result.run_id = store(target, result, settings)
    return result


def _plugin_inputs(objectives: list[Objective]) -> tuple[str, ...]:
    """Plugins may read any metric: the full path then keeps them all."""
    from botfleet.sim.metrics import METRIC_INFO

    if any(o.name.startswith("plugin:") for o in objectives):
        return tuple(k for k in METRIC_INFO if k not in ("start", "end"))
    return ()


def finish(trials: list[Trial], objectives: list[Objective], method: str, path: str,
           t0: float, notes: list[str], study: str | None = None) -> OptimizeResult:
    ok = [i for i, t in enumerate(trials) if not t.skipped and t.feasible]
    best = None
    if ok:
        o = objectives[0]
        key = (lambda i: trials[i].values[0]) if o.direction == "maximize" else \
            (lambda i: -trials[i].values[0])
        best = dict(trials[max(ok, key=key)].params)  # first of equals: grid order
    front = []
    if len(objectives) > 1 and ok:
        front = [ok[j] for j in objs.pareto_front([trials[i].values for i in ok], objectives)]
    skipped = sum(1 for t in trials if t.skipped)
    if skipped:
        notes.append(f"{skipped} combination(s) skipped: they do not compile (e.g. "
                     f"{next(t.skipped for t in trials if t.skipped)})")
    return OptimizeResult(method, [o.name for o in objectives],
                          [o.direction for o in objectives], trials, best, front, skipped,
                          time.perf_counter() - t0, path, study, notes=notes)


# ----------------------------------------------------------------------------- storage

def summary_result(target, params: dict, metrics: dict, start_ms: int, end_ms: int,
                   kind_name: str):
    """A trial as a storable result without curves: two equity points (capital at the first
    bar, final equity at the last) so the run list shows its period and return; the metrics
    carry everything else."""
    from decimal import Decimal

    from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE
    from botfleet.sim.result import BacktestResult

    capital = float(target.capital)
    final = float(metrics.get("final_equity", capital))
    ts = np.array([start_ms, max(end_ms, start_ms + 1)], dtype=np.int64)
    return BacktestResult(
        name=kind_name, strategy=getattr(target.strategy, "name", target.name),
        timeframe=target.timeframe, symbols=[p.symbol for p in target.pairs],
        params=dict(params), capital=Decimal(target.capital), ts=ts,
        close=np.full((2, len(target.pairs)), np.nan), equity=np.array([capital, final]),
        cash=np.array([capital, final]), exposure=np.zeros(2),
        fills=np.zeros(0, FILL_DTYPE), trades=np.zeros(0, TRADE_DTYPE),
        rejects=np.zeros(0, REJECT_DTYPE), metrics=dict(metrics),
        meta={"summary_only": True})


def store(target, result: OptimizeResult, settings: Settings) -> int | None:
    """The best parameters' full backtest as the study run (kind optimize), each evaluated
    trial as a child run (kind optimize_trial) with its parameters and metrics only."""
    from botfleet.sim.metrics import json_safe
    from botfleet.storage.results import ResultStore

    if result.best is None:
        return None
    best = evaluate(target, result.best, settings.start_ms, settings.end_ms)
    best.meta.update({"optimize": {k: v for k, v in asdict(settings).items()
                                   if k not in ("state_url",)},
                      "study": result.study, "path": result.path,
                      "evaluated": len(result.trials), "skipped": result.skipped})
    with ResultStore(settings.state_url) as repo:
        run_id = repo.save(best, kind="optimize")
        for i, t in enumerate(result.trials):
            if t.skipped:
                continue
            m = json_safe({**t.metrics, **{f"objective:{n}": v for n, v in
                                           zip(result.objectives, t.values, strict=True)}})
            m["feasible"] = t.feasible
            repo.save(summary_result(target, t.params, m, best.start_ms, best.end_ms,
                                     f"{target.name} #{i}"),
                      kind="optimize_trial", parent_id=run_id)
    return run_id


def optimize(target, space: Space, settings: Settings, plugins: dict | None = None
             ) -> OptimizeResult:
    """`grid` or `study.optuna_search`, by `settings.method`."""
    if settings.method == "grid":
        return grid(target, space, settings, plugins)
    if settings.method in ("tpe", "nsga2"):
        from botfleet.sim.study import optuna_search

        return optuna_search(target, space, settings, plugins)
    raise ValueError(f"unknown method {settings.method!r}: grid, tpe or nsga2")


def optuna_search(target, space: Space, settings: Settings, plugins: dict | None = None
                  ) -> OptimizeResult:
    from botfleet.sim.study import optuna_search as run

    return run(target, space, settings, plugins)


__all__ = ["OptimizeResult", "Settings", "Trial", "evaluate", "fork_map", "grid",
           "optimize", "optuna_search"]
