"""Sequence models (LSTM, small Transformer; optional 'torch' extra) against the default
LightGBM model and the naive baselines, on real data (docs/ml.md).

The example fleet's `models.d/eth-direction.yaml` (21 features, 24-bar direction label) on the
last year of ETH/USDT and BTC/USDT hourly candles from the shared data (pooled, as the model
declares), `train.window: 366d`, `holdout: 90d`: the same samples and the same holdout for
every learner (checked). Each learner is trained with `train_version` end to end (features,
windows, labels, purged holdout, fit, holdout metrics) `--runs` times on one thread; the
median time and the holdout AUC (checked against scikit-learn's `roc_auc_score`) are printed
beside always-long and previous-direction on the same holdout. Sequence learners use their
defaults (`ml.sequence.DEFAULTS`) unless `--epochs`/`--seq-len` say otherwise.

`--bots N` (or `--inference-only`, 100 bots) also times one live cycle (`predict_latest`)
of N bots for each sequence learner, as `bench_ml.py inference` does for LightGBM.

    .venv/bin/python bench/bench_ml_sequence.py [--runs 2] [--epochs 30] [--seq-len 32]
    .venv/bin/python bench/bench_ml_sequence.py --inference-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ml import candles, default_spec, machine  # the sibling benchmark

PAIRS = ["ETH/USDT", "BTC/USDT"]


def learners(args) -> dict[str, dict]:
    seq = {"epochs": args.epochs, "seq_len": args.seq_len}
    lgb = default_spec().raw["algorithm"]
    return {"lightgbm (default spec)": lgb, "lstm": {"name": "lstm", "params": seq},
            "transformer": {"name": "transformer", "params": seq}}


def run(args) -> dict:
    from sklearn.metrics import roc_auc_score

    from botfleet.ml.train import predict_scores, train_version

    data = {p: candles(p) for p in PAIRS}
    end = min(int(c["ts"][-1]) for c in data.values())
    rows, holdout_range = [], None
    for label, algo in learners(args).items():
        spec = default_spec(pairs=PAIRS, algorithm=algo,
                            train={"window": "366d", "holdout": "90d"})
        times, result = [], None
        for _ in range(args.runs):
            t = time.perf_counter()
            result = train_version(spec, data, end_ms=end, threads=1)
            times.append(time.perf_counter() - t)
        if holdout_range is None:
            holdout_range = (result.holdout_range, result.n_holdout, result.n_train)
        assert (result.holdout_range, result.n_holdout, result.n_train) == holdout_range
        hold = result.extra["holdout"]
        auc = float(roc_auc_score(hold.y, predict_scores(spec, result.estimator, hold.X)))
        m = result.metrics
        assert abs(auc - m["model"]["auc"]) < 1e-9  # our metric agrees with scikit-learn's
        est = result.estimator
        rows.append({"learner": label, "median_s": statistics.median(times), "runs_s": times,
                     "columns": len(result.columns), "holdout_auc": m["model"]["auc"],
                     "holdout_accuracy": m["model"]["accuracy"],
                     "epochs": getattr(est, "epochs_run", None),
                     "best_epoch": getattr(est, "best_epoch", None)})
        baselines = {k: m[k]["auc"] for k in ("always_long", "prev_direction")}
    return {"pairs": PAIRS, "train_samples": holdout_range[2], "holdout_samples":
            holdout_range[1], "holdout_ms": holdout_range[0], "learners": rows,
            "baselines_auc": baselines, "machine": machine()}


def inference(bots: int, runs: int = 30) -> dict:
    """`predict_latest` for `bots` bots from a registered version (sequence learners trained
    1 epoch: the weights do not change the cost) beside the default LightGBM model."""
    import tempfile

    from botfleet.ml.predict import load_promoted
    from botfleet.ml.registry import ModelRegistry
    from botfleet.ml.train import train_version

    eth = candles("ETH/USDT")
    out = {}
    algos = {"lightgbm": default_spec().raw["algorithm"],  # the peer, in the same run
             "lstm": {"name": "lstm", "params": {"epochs": 1}},
             "transformer": {"name": "transformer", "params": {"epochs": 1}}}
    for algo, block in algos.items():
        spec = default_spec(pairs=["ETH/USDT"], algorithm=block,
                            train={"window": "365d", "holdout": "60d"})
        result = train_version(spec, {"ETH/USDT": eth[-12000:]})
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/state.db"
            reg = ModelRegistry(url, Path(tmp) / "data")
            reg.register(result)
            reg.promote(spec, 1)
            model = load_promoted(url, spec.name)
            cuts = np.random.default_rng(1).integers(5000, len(eth), bots)
            tails = {f"bot{i}": eth[: int(cut)] for i, cut in enumerate(cuts)}
            model.predict_latest(tails)  # warm
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                model.predict_latest(tails)
                times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out[algo] = {"bots": bots, "tail_bars": model.tail_bars(),
                     "median_ms": statistics.median(times),
                     "p95_ms": times[int(0.95 * (len(times) - 1))]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--bots", type=int, default=0, help="also time predict_latest for N bots")
    ap.add_argument("--inference-only", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    np.seterr(all="ignore")
    out = {} if args.inference_only else run(args)
    if args.bots or args.inference_only:
        out["inference"] = inference(args.bots or 100)
        out.setdefault("machine", machine())
    text = json.dumps(out, indent=1, default=str)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
