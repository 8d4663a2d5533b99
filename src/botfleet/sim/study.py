"""Optuna studies: TPE for one objective, NSGA-II for several, over worker processes that share
one storage, resumable by study name.

Storage, measured on this 2-core machine (trivial objective, 200 trials): Optuna's RDB storage
on SQLite never failed on locks (with a 30 s busy timeout) but cost ~160 ms per trial and did
not scale with a second process (38 s for 200 trials with 2 workers); its JournalStorage on a
file cost ~40 ms per trial (7.4 s). So a SQLite state database gets a journal file next to it
(`<state>.optuna/<study>.log`), and PostgreSQL keeps the studies in its own tables through
`storage.optuna_storage_url` (RDB, ~80-95 ms per trial, shared by every machine that can reach
it). Without a state URL a study is in memory (one process) or in a temporary journal
(several).

`trials` is the size the study should reach: re-running a study by name continues it up to
that many finished trials (an interrupted run resumes where it stopped; raise --trials to
extend a finished one). A seed makes a one-worker study reproducible; with several workers the
interleaving of trials is not deterministic.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from botfleet.sim import objectives as objs
from botfleet.sim.objectives import TABLE_METRICS
from botfleet.sim.optimize import (
    OptimizeResult,
    Settings,
    Trial,
    _plugin_inputs,
    compile_params,
    finish,
    fork_map,
    score,
    store,
)
from botfleet.sim.space import Space
from botfleet.sim.trialcount import counted

_FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def storage_spec(settings: Settings, study: str, jobs: int) -> tuple[str, str] | None:
    """("journal", path) or ("rdb", url) or None (in memory)."""
    url = settings.state_url
    if url:
        from botfleet.storage.urls import optuna_storage_url, parse_url

        parsed = parse_url(url)
        if parsed.get_backend_name() == "sqlite":
            folder = Path(f"{parsed.database}.optuna")
            folder.mkdir(parents=True, exist_ok=True)
            return "journal", str(folder / f"{_safe(study)}.log")
        return "rdb", optuna_storage_url(url)
    if jobs > 1:
        return "journal", str(Path(tempfile.mkdtemp(prefix="botfleet-optuna-")) / "study.log")
    return None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def open_storage(spec: tuple[str, str] | None):
    """A storage object for this process (never share one across a fork)."""
    import optuna

    if spec is None:
        return optuna.storages.InMemoryStorage()
    kind, where = spec
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(where))
    return optuna.storages.RDBStorage(where)


def _sampler(method: str, seed: int | None):
    """Infeasible trials (fewer than min_trades) carry a positive `min_trades` constraint
    (`trial.set_constraint`): both samplers rank them after every feasible trial, instead of
    learning from a made-up bad score."""
    import optuna

    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _objective(target, space: Space, settings: Settings, objectives, extra):
    import optuna

    from botfleet.sim.metrics import json_safe
    from botfleet.sim.optimize import evaluate

    def run(trial: optuna.Trial):
        params = {**space.fixed, **{d.name: suggest(trial, d) for d in space.dims}}
        strategy, error = compile_params(target, params)
        if strategy is None:
            trial.set_user_attr("skipped", error)
            raise optuna.TrialPruned(error)
        m = evaluate(target, params, settings.start_ms, settings.end_ms).metrics
        keep = {k: float(m[k]) for k in (*TABLE_METRICS, *extra) if k in m}
        trial.set_user_attr("metrics", json_safe(keep))
        trial.set_constraint("min_trades", float(settings.min_trades - keep["n_trades"]))
        values = [o.value(keep) for o in objectives]
        return values[0] if len(values) == 1 else values

    return counted(run)  # each finished trial moves a caller's progress bar (trialcount)


def suggest(trial, dim):
    """One parameter from the trial, within the same values a grid would use."""
    dist = dim.distribution()
    if dim.kind == "choice":
        return trial.suggest_categorical(dim.name, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(dim.name, dist.low, dist.high, step=dist.step)
    return trial.suggest_float(dim.name, dist.low, dist.high, step=dist.step)


def _work(target, space, settings, objectives, extra, spec, name, seed, total):
    import optuna
    from optuna.study import MaxTrialsCallback

    from botfleet.strategy.program import step_cache

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(spec),
                              sampler=_sampler(settings.method, seed))
    with step_cache(256 << 20):
        study.optimize(_objective(target, space, settings, objectives, extra),
                       n_trials=total, callbacks=[MaxTrialsCallback(total, states=None)],
                       catch=())
    return []


def optuna_search(target, space: Space, settings: Settings, plugins: dict | None = None
                  ) -> OptimizeResult:
    import optuna

    t0 = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objectives = objs.resolve(settings.objectives, plugins)
    extra = _plugin_inputs(objectives)
    name = settings.study or "-".join([target.name, settings.method, *settings.objectives])
    jobs = settings.workers
    spec = storage_spec(settings, name, jobs)
    storage = open_storage(spec)
    directions = [o.direction for o in objectives]
    study = optuna.create_study(study_name=name, storage=storage, directions=directions,
                                sampler=_sampler(settings.method, settings.seed),
                                load_if_exists=True)
    if [d.name.lower() for d in study.directions] != directions:
        raise ValueError(f"study {name!r} exists with other objectives; use another --study")
    before = len(study.trials)
    finished = sum(1 for t in study.trials if t.state.name in _FINISHED)
    remaining = max(0, settings.trials - finished)
    if remaining and (jobs == 1 or spec is None):
        _work_in(study, target, space, settings, objectives, extra, remaining)
    elif remaining:
        fork_map(lambda seeds: [_work(target, space, settings, objectives, extra, spec,
                                      name, s, settings.trials) for s in seeds],
                 [None if settings.seed is None else settings.seed + k
                  for k in range(min(jobs, remaining))], jobs)
        study = optuna.load_study(study_name=name, storage=open_storage(spec))
    trials = [_trial(t, space.fixed) for t in study.trials
              if t.state.name in ("COMPLETE", "PRUNED")]
    for t in trials:
        score(t, objectives, settings.min_trades)
    notes = [(f"study {name!r}: {len(study.trials) - before} new trial(s), "
              f"{len(study.trials)} in all")]
    result = finish(trials, objectives, settings.method, "optuna", t0, notes, study=name)
    if settings.state_url:
        result.run_id = store(target, result, settings)
    return result


def _work_in(study, target, space, settings, objectives, extra, n: int) -> None:
    from botfleet.strategy.program import step_cache

    with step_cache(256 << 20):
        study.optimize(_objective(target, space, settings, objectives, extra), n_trials=n,
                       catch=())


def _trial(t, fixed: dict) -> Trial:
    params = {**fixed, **t.params}
    if "skipped" in t.user_attrs or "metrics" not in t.user_attrs:
        return Trial(params, None, skipped=t.user_attrs.get("skipped", "pruned"))
    m = {k: (float(v) if v is not None else float("nan"))
         for k, v in t.user_attrs["metrics"].items()}
    return Trial(params, m)
