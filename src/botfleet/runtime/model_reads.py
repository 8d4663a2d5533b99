"""The model reads of a close, for all its bots at once, before they decide.

A bot whose strategy reads `proba(m)` is answered by `ml.strategy_source.PromotedModels`.
Read bot by bot, each would ask the registry which version serves and call the learner for
its own bars: ~100 small queries and ~100 learner calls for 100 bots. Here, before the bots
decide, the close asks the registry once per model, fetches the model bots' candle windows
(the same shared `feed` windows their cycles read next, fetched in parallel), and fills each
served version's memo (`ml.batch.prime`) with one learner call for every bar those bots'
newest signals read (`strategy.model_tails`). Each bot's decision then reads its values from
the memo; whatever the batch could not cover (a window that changed, a failed fetch) the bot
computes itself, so a failure here costs time, never a decision: it is logged and ignored.
"""

from __future__ import annotations

import logging
from concurrent.futures import wait

log = logging.getLogger("botfleet.runtime.models")


def live_source(plan, engine):
    """The plan's strategy's model source (`PromotedModels`, pinned on first use with the
    bot's `model_versions`); None when its strategy reads no model."""
    strategy = plan.strategy
    if not getattr(strategy, "model_uses", None):
        return None
    pins = dict(getattr(plan.config, "model_versions", None) or {})
    if strategy.model_source is None:
        from botfleet.ml.strategy_source import PromotedModels

        strategy.use_models(PromotedModels(engine, pins))
    elif getattr(strategy.model_source, "pins", pins) != pins:  # a reload changed them
        strategy.model_source.pins = pins
    return strategy.model_source


def prime_sources(reads, now_ms: int) -> dict:
    """`reads`: (source, strategy, windows) per bot. Answers which version serves each of its
    models (one registry query per model for all of them) for the cycle at `now_ms`, and
    computes the bars their newest signals read with one learner call per version. Returns
    rows computed per `ml.batch.Served`."""
    from botfleet.ml.batch import prime, serve, span
    from botfleet.ml.registry import ModelRegistry, RegistryError
    from botfleet.ml.train import ModelError
    from botfleet.strategy.model_tails import model_tails

    promoted: dict[tuple, object] = {}
    jobs = []
    for source, strategy, windows in reads:
        engine = source.engine
        answers = {}
        for use in strategy.model_uses:
            if use.name not in answers:
                key = (str(engine.url), use.name)
                if use.name not in source.pins and key not in promoted:
                    promoted[key] = ModelRegistry(engine).promoted(use.name)
                answers[use.name] = source.resolve(use.name, promoted.get(key))
        source.prime(now_ms, answers)
        tails = model_tails(strategy)
        for use in strategy.model_uses:
            row, _ = answers[use.name]
            if row is None or (use.name, use.what) not in tails:
                continue
            try:
                served = serve(engine, row)
            except (RegistryError, ModelError):
                continue  # the bot's own read reports it
            for c in windows:
                if len(c):
                    _, lo = span(len(c), use.warmup, tails[(use.name, use.what)])
                    jobs.append((served, c, lo, len(c)))
    return prime(jobs)


def prime_models(runner, slots, now_ms: int) -> dict:
    """The batch for the bots of `slots` that read models, at the close `now_ms`."""
    svc = runner.svc
    todo = []
    for slot in slots:
        plan = slot.pending or slot.plan
        source = live_source(plan, svc.ledger.engine)
        if source is not None:
            todo.append(plan)
    if not todo:
        return {}
    try:
        series: dict[tuple, int] = {}
        for plan in todo:
            for pair in plan.config.pairs:
                key = (plan.exchange.name, pair, plan.timeframe)
                series[key] = max(series.get(key, 0), plan.window)
        futures = {key: runner.pool.submit(svc.feed.window, *key, n, now_ms)
                   for key, n in series.items()}
        wait(list(futures.values()), timeout=runner.options.cycle_timeout_s)
        got = {}
        for key, fut in futures.items():
            if fut.done() and fut.exception() is None:
                got[key] = fut.result().candles
        reads = []
        for plan in todo:
            windows = [got[k][-plan.window:] for p in plan.config.pairs
                       if (k := (plan.exchange.name, p, plan.timeframe)) in got]
            reads.append((plan.strategy.model_source, plan.strategy, windows))
        return prime_sources(reads, now_ms)
    except Exception as exc:  # noqa: BLE001 - the bots read their models themselves then
        log.warning("the close's batched model reads failed (%s: %s); each bot reads its own",
                    type(exc).__name__, exc)
        return {}
