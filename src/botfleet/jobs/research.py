"""The research job: a backtest, an optimisation or a walk-forward of one bot, stored.

The same library calls as `botfleet backtest|optimize|walkforward BOT` (`cli_research`,
`sim.engine`, `sim.optimize`, `sim.walkforward`), with the settings of the bot's `optimize:`
block, and every result saved in the fleet's state database, where reports and the UI find it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import typer

from botfleet.jobs.common import JobError
from botfleet.sim.trialcount import counting

JOBS = ("backtest", "optimize", "walkforward")


def target(fleet_path: str, bot: str, *, pairs: Sequence[str] | None = None,
           timeframe: str | None = None, start_ms: int | None = None,
           end_ms: int | None = None, params: Mapping[str, Any] | None = None,
           strategy: str | None = None):
    """The bot ready to backtest (`cli_research.load_target`), optionally on other pairs, a
    timeframe, a period, parameter overrides or another of the fleet's strategies; its refusal
    as a `JobError`."""
    from botfleet.cli_research import load_target

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
            return load_target(bot, fleet_path=Path(fleet_path), pairs=list(pairs or []),
                               timeframe=timeframe or None,
                               params=[f"{k}={v}" for k, v in (params or {}).items()] or None,
                               fills=None, capital=None, data=None, store=None,
                               exchange="binance", start_ms=start_ms, end_ms=end_ms,
                               strategy=strategy or None)
    except (click.exceptions.Exit, typer.Exit) as exc:  # typer's own Exit is not click's
        raise JobError(f"{bot}: cannot be backtested: "
                       + (err.getvalue().strip() or f"exit {exc.exit_code}")) from None


def to_ms(value: Any, name: str) -> int | None:
    """A period bound as ms since the epoch: None, ms, a date/datetime (naive = UTC) or its
    ISO text (`2024-01-01`, `2024-01-01T12:00`): Prefect parameters arrive as text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise JobError(f"{name}: {value!r} is not a time")
    if isinstance(value, int):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise JobError(f"{name} {value!r}: write a date as YYYY-MM-DD or "
                           "YYYY-MM-DDTHH:MM (UTC)") from None
    if not isinstance(value, datetime):
        raise JobError(f"{name}: {value!r} is not a time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _settings(t, state_url: str):
    from botfleet.sim.optimize import Settings

    block = dict(t.bot.optimize or {})
    objectives = list(block.get("objectives") or ["sharpe"])
    method = block.get("method") or ("nsga2" if len(objectives) > 1 else "grid")
    return Settings(method=method, objectives=objectives, trials=block.get("trials") or 100,
                    jobs=block.get("jobs"), min_trades=block.get("min_trades", 1),
                    seed=block.get("seed"), state_url=state_url), block


def _plugins(t) -> dict:
    from botfleet.strategy.plugins import discover

    folder = Path(t.fleet.path).parent / "plugins"
    return discover([folder] if folder.is_dir() else []).objectives


Progress = Callable[[int, str], None]  # percent done, what is happening


def _per_trial(tell: Progress, what: str, total: int | None) -> Callable[[int], None]:
    """Progress from 20 % to 95 % as trials finish (`sim.trialcount`); without a known total
    (a walk-forward optimises each window) the bar moves by a shrinking share per trial."""
    def report(done: int) -> None:
        share = min(done / total, 1.0) if total else done / (done + 50)
        tell(20 + int(75 * share), f"{what}: {done}" + (f"/{total}" if total else "")
             + " trial(s) done")

    return report


def run_job(fleet_path: str, bot: str, job: str, *, pairs: Sequence[str] | None = None,
            timeframe: str | None = None, start: Any = None, end: Any = None,
            params: Mapping[str, Any] | None = None, strategy: str | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
    """Run `job` for `bot` (as configured, or on the given pairs / timeframe / period /
    parameters / fleet strategy); the stored run's id and headline metrics. `progress` hears
    each step (the panel's progress bar)."""
    if job not in JOBS:
        raise JobError(f"unknown research job {job!r}; one of {', '.join(JOBS)}")
    tell = progress or (lambda pct, text: None)
    start_ms, end_ms = to_ms(start, "start"), to_ms(end, "end")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise JobError(f"start {start} is not before end {end}")
    tell(5, f"{job} {bot}: loading the strategy and its candles")
    t = target(fleet_path, bot, pairs=pairs, timeframe=timeframe, start_ms=start_ms,
               end_ms=end_ms, params=params, strategy=strategy)
    state = t.fleet.storage.state
    head = {"bot": bot, "job": job}
    if strategy:
        head["strategy"] = strategy
    if job == "backtest":
        from botfleet.sim.engine import backtest
        from botfleet.storage.results import ResultStore

        tell(30, f"backtest {bot}: simulating {len(t.pairs)} pair(s) on {t.timeframe}")
        result = backtest(t.strategy, t.pairs, t.timeframe, t.capital, t.fills, name=t.name,
                          sizing=t.sizing, start_ms=start_ms, end_ms=end_ms,
                          meta={"command": "research flow: backtest",
                                "strategy": t.bot.strategy, "params": dict(params or {})})
        tell(90, f"backtest {bot}: storing the result")
        with ResultStore(state) as repo:
            run_id = repo.save(result)
        m = result.metrics
        return {**head, "run_id": run_id, "total_return": m["total_return"],
                "sharpe": m["sharpe"], "max_drawdown": m["max_drawdown"],
                "trades": int(m["n_trades"])}
    from dataclasses import replace

    from botfleet.sim.space import build_space

    settings, block = _settings(t, state)
    settings = replace(settings, start_ms=start_ms, end_ms=end_ms)
    own = not strategy or strategy == t.bot.strategy  # the optimize block names its params
    space = build_space(t.declared or {}, only=block.get("parameters") if own else None,
                        values=t.strategy.params)
    if job == "optimize":
        from botfleet.sim.optimize import optimize

        tell(20, f"optimize {bot}: {settings.method} search of {settings.objectives}")
        with counting(_per_trial(tell, f"optimize {bot}", settings.trials)):
            result = optimize(t, space, settings, _plugins(t))
        return {**head, "run_id": result.run_id, "method": result.method,
                "evaluated": len(result.trials), "best": str(result.best)}
    from botfleet.sim.walkforward import duration_ms, walk_forward

    wf = dict(block.get("walkforward") or {})
    tell(20, f"walkforward {bot}: {wf.get('mode', 'rolling')} windows, optimising each")
    with counting(_per_trial(tell, f"walkforward {bot}", None)):
        report = walk_forward(t, space, settings, mode=wf.get("mode", "rolling"),
                              train_ms=duration_ms(wf.get("train", "180d")),
                              test_ms=duration_ms(wf.get("test", "30d")),
                              last=wf.get("windows"),
                              plugins=_plugins(t))
    return {**head, "run_id": report.run_id, "windows": len(report.windows),
            "oos_cagr": report.oos_annual}
