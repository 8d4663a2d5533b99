"""The research job: a backtest, an optimisation or a walk-forward of one bot, stored.

The same library calls as `botfleet backtest|optimize|walkforward BOT` (`cli_research`,
`sim.engine`, `sim.optimize`, `sim.walkforward`), with the settings of the bot's `optimize:`
block, and every result saved in the fleet's state database, where reports and the UI find it.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import click

from botfleet.jobs.common import JobError

JOBS = ("backtest", "optimize", "walkforward")


def target(fleet_path: str, bot: str):
    """The bot ready to backtest (`cli_research.load_target`); its refusal as a `JobError`."""
    from botfleet.cli_research import load_target

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return load_target(bot, fleet_path=Path(fleet_path), pairs=[], timeframe=None,
                               params=None, fills=None, capital=None, data=None, store=None,
                               exchange="binance", start_ms=None, end_ms=None)
    except click.exceptions.Exit as exc:
        raise JobError(f"{bot}: cannot be backtested: "
                       + (err.getvalue().strip() or f"exit {exc.exit_code}")) from None


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


def run_job(fleet_path: str, bot: str, job: str) -> dict[str, Any]:
    """Run `job` for `bot`; the stored run's id and headline metrics."""
    if job not in JOBS:
        raise JobError(f"unknown research job {job!r}; one of {', '.join(JOBS)}")
    t = target(fleet_path, bot)
    state = t.fleet.storage.state
    if job == "backtest":
        from botfleet.sim.engine import backtest
        from botfleet.storage.results import ResultStore

        result = backtest(t.strategy, t.pairs, t.timeframe, t.capital, t.fills, name=t.name,
                          sizing=t.sizing, meta={"command": "research flow: backtest"})
        with ResultStore(state) as repo:
            run_id = repo.save(result)
        m = result.metrics
        return {"bot": bot, "job": job, "run_id": run_id, "total_return": m["total_return"],
                "sharpe": m["sharpe"], "max_drawdown": m["max_drawdown"],
                "trades": int(m["n_trades"])}
    from botfleet.sim.space import build_space

    settings, block = _settings(t, state)
    space = build_space(t.declared or {}, only=block.get("parameters"),
                        values=t.strategy.params)
    if job == "optimize":
        from botfleet.sim.optimize import optimize

        result = optimize(t, space, settings, _plugins(t))
        return {"bot": bot, "job": job, "run_id": result.run_id, "method": result.method,
                "evaluated": len(result.trials), "best": str(result.best)}
    from botfleet.sim.walkforward import duration_ms, walk_forward

    wf = dict(block.get("walkforward") or {})
    report = walk_forward(t, space, settings, mode=wf.get("mode", "rolling"),
                          train_ms=duration_ms(wf.get("train", "180d")),
                          test_ms=duration_ms(wf.get("test", "30d")), last=wf.get("windows"),
                          plugins=_plugins(t))
    return {"bot": bot, "job": job, "run_id": report.run_id, "windows": len(report.windows),
            "oos_cagr": report.oos_annual}
