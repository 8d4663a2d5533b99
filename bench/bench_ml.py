"""Models: training time of the default model, inference for 100 bots, and the walk-forward
out-of-sample result on real data (docs/ml.md).

Targets (issue 11): training time of the default model on 5 years x 5 pairs hourly reported;
inference for 100 bots in one cycle under 50 ms.

1. `train`: the example fleet's `models.d/eth-direction.yaml` (LightGBM, 21 features, 24-bar
   direction label), pairs replaced by the five hourly Binance pairs of the shared data and the
   training window widened to all five years; `train_version` end to end (features, labels,
   purged holdout, fit, holdout metrics), `--threads` LightGBM threads, `--runs` times.
2. `inference`: a version trained on ETH/USDT is loaded from a registry (SQLite), then one
   cycle for `--bots` bots: each bot's features from a tail of its candles (the real hourly
   history cut at a different bar per bot) and one learner call for all; `predict_latest`
   timed `--runs` times (median, p95).
3. `strategies`: 100 bots whose strategies read `proba('eth-direction')` (`> 0.55`, then
   `crosses_above`, which reads two bars), each on its own cut of the hourly history: per close
   the runtime's batch (`runtime.model_reads.prime_sources`) and each bot's `strategy.latest`;
   peer: the one-bot-at-a-time read it replaced (`OldPromoted`), same run.
4. `oos`: `ml.walkforward.walk_forward_report` of the same spec on BTC, ETH, SOL hourly:
   8 consecutive test blocks over the second half of 2020-09..2025-09, each trained on the two
   years before it (purged), against always-long and previous-direction.

    .venv/bin/python bench/bench_ml.py train [--runs 3] [--threads 1] [--pairs 5] [--years 5]
    .venv/bin/python bench/bench_ml.py inference [--bots 100] [--runs 50]
    .venv/bin/python bench/bench_ml.py strategies [--bots 100] [--runs 50]
    .venv/bin/python bench/bench_ml.py oos [--splits 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from botfleet.config.ml import model_spec
from botfleet.data.candles import from_frame

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BOTFLEET_SHARED_DATA", ROOT.parent / "shared" / "data"))
PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]


def candles(pair: str) -> np.ndarray:
    path = SHARED / f"binance_{pair.replace('/', '-')}_1h.csv"
    if not path.exists():
        sys.exit(f"shared data not found: {path} (set BOTFLEET_SHARED_DATA)")
    return from_frame(pd.read_csv(path))


def default_spec(**over):
    data = yaml.safe_load((ROOT / "models.d" / "eth-direction.yaml").read_text())
    data.update(over)
    return model_spec(data)


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
            f", {platform.system()}")


def bench_train(args) -> dict:
    from botfleet.ml.train import train_version

    pairs = PAIRS[: args.pairs]
    data = {p: candles(p) for p in pairs}
    years = args.years
    end = max(int(c["ts"][-1]) for c in data.values())
    start = end - int(years * 365.25 * 86_400_000)
    data = {p: c[c["ts"] >= start] for p, c in data.items()}
    spec = default_spec(pairs=pairs, train={"window": f"{int(years * 366)}d", "holdout": "90d"})
    times, result = [], None
    for _ in range(args.runs):
        t = time.perf_counter()
        result = train_version(spec, data, threads=args.threads)
        times.append(time.perf_counter() - t)
    rows = sum(len(c) for c in data.values())
    return {"what": "train_version, default model", "pairs": pairs, "candles": rows,
            "train_samples": result.n_train, "holdout_samples": result.n_holdout,
            "features": len(result.columns), "threads": args.threads,
            "median_s": statistics.median(times), "runs_s": times,
            "holdout_auc": result.metrics["model"]["auc"], "machine": machine()}


def bench_inference(args) -> dict:
    from botfleet.ml.predict import load_promoted
    from botfleet.ml.registry import ModelRegistry
    from botfleet.ml.train import train_version

    eth = candles("ETH/USDT")
    spec = default_spec(pairs=["ETH/USDT"], train={"window": "365d", "holdout": "60d"})
    result = train_version(spec, {"ETH/USDT": eth[-12000:]})
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/state.db"
        reg = ModelRegistry(url, Path(tmp) / "data")
        reg.register(result)
        reg.promote(spec, 1)
        t = time.perf_counter()
        model = load_promoted(url, spec.name)
        load_s = time.perf_counter() - t
        rng = np.random.default_rng(1)
        cuts = rng.integers(5000, len(eth), args.bots)
        bots = {f"bot{i}": eth[: int(cut)] for i, cut in enumerate(cuts)}
        model.predict_latest(bots)  # warm
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = model.predict_latest(bots)
            times.append(time.perf_counter() - t)
        assert len(out) == args.bots
    times_ms = sorted(x * 1000 for x in times)
    return {"what": "predict_latest: features from each bot's tail + one learner call",
            "bots": args.bots, "tail_bars": model.tail_bars(), "load_s": load_s,
            "median_ms": statistics.median(times_ms),
            "p95_ms": times_ms[int(0.95 * (len(times_ms) - 1))], "machine": machine()}


STRATEGY = """\
kind: strategy
version: 1
name: ml-bench
entry: {entry}
exit: proba('eth-direction') < 0.45
sizing: {{method: percent_equity, value: 10%}}
"""


class OldPromoted:
    """The one-bot-at-a-time read before batching (the peer), as `PromotedModels.series` was:
    the registry asked for the promoted version on every read, the features of the whole
    window, a prediction on every bar after the model's warm-up."""

    def __init__(self, url):
        self.url, self.loaded = url, None

    def notes(self):
        return []

    def series(self, use, candles, newest=None):
        from botfleet.ml.features import feature_block
        from botfleet.ml.predict import load_version
        from botfleet.ml.registry import ModelRegistry

        want = ModelRegistry(self.url).promoted(use.name).version
        if self.loaded is None or self.loaded.version.version != want:
            self.loaded = load_version(self.url, use.name, want)
        out = np.full(len(candles), np.nan)
        first = min(use.warmup, len(candles) - 1)
        out[first:] = self.loaded.predict(feature_block(candles, self.loaded.spec).values[first:])
        return out


def bench_strategies(args) -> dict:
    """100 bots whose strategies read proba(): the close's batch (`runtime.model_reads`, one
    registry query and one learner call) then each bot's `strategy.latest` (what its decision
    runs), at consecutive closes; against the old one-bot path in the same run."""
    from botfleet.config.loader import load_fleet
    from botfleet.ml.registry import ModelRegistry
    from botfleet.ml.strategy_source import PromotedModels
    from botfleet.ml.train import train_version
    from botfleet.runtime.model_reads import prime_sources
    from botfleet.strategy.declarative import compile_entry

    eth = candles("ETH/USDT")
    spec = default_spec(pairs=["ETH/USDT"], train={"window": "365d", "holdout": "60d"})
    result = train_version(spec, {"ETH/USDT": eth[-12000:]})
    rng = np.random.default_rng(1)
    out = {"bots": args.bots, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/state.db"
        reg = ModelRegistry(url, Path(tmp) / "data")
        reg.register(result)
        reg.promote(spec, 1)
        for label, entry in (("proba > x", "proba('eth-direction') > 0.55"),
                             ("crosses_above(proba, x)",
                              "crosses_above(proba('eth-direction'), 0.55)")):
            path = Path(tmp) / "s.yaml"
            path.write_text(STRATEGY.format(entry=entry))
            doc = load_fleet(path).entries["strategy"][0]

            def fleet(source, doc=doc):
                return [compile_entry(doc, "1h", models={spec.name: spec}).use_models(source())
                        for _ in range(args.bots)]
            new, old = fleet(lambda: PromotedModels(url)), fleet(lambda: OldPromoted(url))
            n = new[0].window()["1h"]
            cuts = rng.integers(5000, len(eth) - args.runs - 2, args.bots)

            def windows(r, cuts=cuts, n=n):
                return [eth[int(c) + r - n: int(c) + r] for c in cuts]

            def batched(r, new=new, windows=windows):
                ws = windows(r)
                prime_sources([(s.model_source, s, [w]) for s, w in zip(new, ws, strict=True)],
                              r)
                for s, w in zip(new, ws, strict=True):
                    s.model_source.begin_cycle(r)
                    s.latest(w)

            def one_by_one(r, old=old, windows=windows):
                for s, w in zip(old, windows(r), strict=True):
                    s.latest(w)
            got = {}
            for name, fn, runs in (("batched", batched, args.runs),
                                   ("old one-bot path", one_by_one, max(3, args.runs // 10))):
                fn(0)  # warm: the first close computes every bar it reads
                times = []
                for r in range(1, runs + 1):
                    t = time.perf_counter()
                    fn(r)
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                got[name] = {"median_ms": statistics.median(times),
                             "p95_ms": times[int(0.95 * (len(times) - 1))], "runs": runs}
            same = [bool(a.latest(w)["entry_long"] == b.latest(w)["entry_long"])
                    for a, b, w in zip(new, old, windows(args.runs + 1), strict=True)]
            got["ratio"] = got["old one-bot path"]["median_ms"] / got["batched"]["median_ms"]
            got["window_bars"] = n
            got["same_entry_decisions"] = f"{sum(same)}/{len(same)}"
            out[label] = got
    return out


def bench_oos(args) -> dict:
    from botfleet.ml.walkforward import walk_forward_report

    pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    spec = default_spec(pairs=pairs)
    rep = walk_forward_report(spec, {p: candles(p) for p in pairs}, n_splits=args.splits,
                              threads=args.threads)
    rep["machine"] = machine()
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1, default=str))
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["train", "inference", "strategies", "oos"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--years", type=float, default=5)
    ap.add_argument("--bots", type=int, default=100)
    ap.add_argument("--splits", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.what in ("inference", "strategies") and args.runs == 3:
        args.runs = 50
    out = {"train": bench_train, "inference": bench_inference, "strategies": bench_strategies,
           "oos": bench_oos}[args.what](args)
    if args.what == "oos":
        out = {"overall": out["overall"], "per_block": [
            {k: b[k] for k in ("start_ms", "end_ms", "samples", "n_train")} |
            {"model_auc": b["model"]["auc"], "model_acc": b["model"]["accuracy"],
             "long_acc": b["always_long"]["accuracy"]} for b in out["blocks"]],
            "seconds": out["seconds"], "samples": out["samples"]}
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
