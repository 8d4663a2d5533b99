"""An optimisation grid cut into chunks that run anywhere: threads, processes, a Dask cluster.

`sim.optimize.grid` evaluates a grid on one machine (forked workers). To spread one grid over
several machines, the research flow asks `plan` for the combinations in chunks, runs
`evaluate_chunk` for each as a task (on whatever task runner the flow has, e.g. Dask's), and
`collect` scores the rows, picks the best and stores the study exactly as `grid` would. Every
argument and result is plain data (the fleet's path, parameter dicts, metric dicts): a chunk
can be pickled to a worker that loads the fleet itself; the loaded target, full of compiled
closures and arrays, never travels.
"""

from __future__ import annotations

import os
import time
from typing import Any

from botfleet.jobs.common import JobError
from botfleet.jobs.research import _plugins, _settings, target


def _space(t, state_url: str):
    from botfleet.sim.space import build_space

    settings, block = _settings(t, state_url)
    if settings.method != "grid":
        raise JobError(f"{t.name}: optimize.method is {settings.method!r}; only a grid can "
                       "be cut into chunks (run the 'optimize' job for Optuna searches)")
    space = build_space(t.declared or {}, only=block.get("parameters"),
                        values=t.strategy.params)
    return settings, space


def plan(fleet_path: str, bot: str, chunks: int) -> list[list[tuple[int, dict[str, Any]]]]:
    """The bot's grid as `chunks` interleaved lists of (index, parameters); interleaved so
    that slow corners of the grid (long windows) spread over every chunk."""
    if chunks < 1:
        raise JobError(f"chunks must be at least 1, got {chunks}")
    t = target(fleet_path, bot)
    settings, space = _space(t, t.fleet.storage.state)
    items = list(enumerate({**space.fixed, **c} for c in space.grid(settings.max_grid)))
    n = min(chunks, len(items))
    return [items[k::n] for k in range(n)]


def evaluate_chunk(fleet_path: str, bot: str, items: list[tuple[int, dict[str, Any]]]
                   ) -> dict[str, Any]:
    """The metrics of each combination of the chunk: the vectorised grid path where the
    strategy allows it, the full backtest otherwise (the same two paths as `grid`)."""
    from botfleet.sim import objectives as objs
    from botfleet.sim.gridfast import fast_grid
    from botfleet.sim.optimize import _full_chunk, _plugin_inputs

    t = target(fleet_path, bot)
    settings, _ = _space(t, t.fleet.storage.state)
    combos = [params for _, params in items]
    trials, why = fast_grid(t, combos, settings) if settings.fast else (None, "fast off")
    if trials is not None:
        rows = [(i, tr.metrics, tr.skipped) for (i, _), tr in zip(items, trials, strict=True)]
        path = "fast"
    else:
        extra = _plugin_inputs(objs.resolve(settings.objectives, _plugins(t)))
        rows = _full_chunk(t, [(i, p) for i, p in items], settings.start_ms, settings.end_ms,
                           extra)
        path = "full"
    return {"rows": [[i, m, err] for i, m, err in rows], "path": path, "pid": os.getpid(),
            "note": None if path == "fast" else why}


def collect(fleet_path: str, bot: str, chunks: list[dict[str, Any]], started: float
            ) -> dict[str, Any]:
    """Score every row, choose the best as `grid` does, store the study; its summary."""
    from botfleet.sim import objectives as objs
    from botfleet.sim.optimize import Trial, finish, score, store

    t = target(fleet_path, bot)
    settings, space = _space(t, t.fleet.storage.state)
    combos = [{**space.fixed, **c} for c in space.grid(settings.max_grid)]
    trials: list[Trial | None] = [None] * len(combos)
    for chunk in chunks:
        for i, metrics, err in chunk["rows"]:
            trials[i] = Trial(combos[i], metrics, skipped=err)
    missing = [i for i, tr in enumerate(trials) if tr is None]
    if missing:
        raise JobError(f"{bot}: {len(missing)} combination(s) came back from no chunk "
                       f"(first: #{missing[0]})")
    objectives = objs.resolve(settings.objectives, _plugins(t))
    for tr in trials:
        score(tr, objectives, settings.min_trades)
    paths = sorted({c["path"] for c in chunks})
    result = finish(trials, objectives, "grid", "+".join(paths), started, [])
    result.elapsed_s = time.time() - started
    result.run_id = store(t, result, settings)
    return {"bot": bot, "job": "grid", "run_id": result.run_id, "evaluated": len(trials),
            "best": str(result.best), "chunks": len(chunks), "path": result.path,
            "workers": len({c["pid"] for c in chunks})}
