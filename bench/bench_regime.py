"""The market-regime model out of sample on real data, against its naive baselines (docs/ml.md).

`models.d/market-regime.yaml` (or its `algorithm` replaced by `--algorithm lightgbm|logistic`)
on the shared Binance hourly candles of `--pairs` (default BTC, ETH, SOL): the second half of
2020-09..2025-09 is cut into `--splits` consecutive test blocks, each predicted by a model trained
on the `train.window` before it, purged of labels reaching into the block (`ml.splits`), exactly
as `ml.walkforward` does; scored with class probabilities (so with a log loss) by
`ml.regime.evaluate_regime`, against the majority class and the previous regime.

    .venv/bin/python bench/bench_regime.py [--splits 8] [--algorithm ensemble] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ml import ROOT, candles, machine

from botfleet.config.ml import model_spec
from botfleet.data.candles import timeframe_ms
from botfleet.ml.dataset import make_dataset
from botfleet.ml.output import learner_output
from botfleet.ml.regime import evaluate_regime
from botfleet.ml.splits import leaks, walk_forward
from botfleet.ml.train import fit


def regime_spec(algorithm: str | None):
    data = yaml.safe_load((ROOT / "models.d" / "market-regime.yaml").read_text())
    if algorithm == "lightgbm":
        data["algorithm"] = {"name": "lightgbm", "params": data["algorithm"]["members"][0]["params"]}
    elif algorithm == "logistic":
        data["algorithm"] = data["algorithm"]["members"][1]
    return model_spec(data)


def oos(spec, pairs: list[str], n_splits: int) -> dict:
    began = time.perf_counter()
    ds = make_dataset({p: candles(p) for p in pairs}, spec)
    purge = spec.purge * timeframe_ms(spec.timeframe)
    splits = walk_forward(ds.start, ds.end, n_splits, test_from=len(ds) // 2,
                          train_ms=spec.train_window_s * 1000, purge_ms=purge)
    proba = np.full((len(ds), 3), np.nan)
    tested = []
    for split in splits:
        assert not leaks(split, ds.start, ds.end)
        est = fit(spec, ds.X[split.train], ds.y[split.train], ds.columns, threads=1,
                  start=ds.start[split.train], end=ds.end[split.train])
        proba[split.test] = learner_output(spec, est, ds.X[split.test])
        tested.append(split.test)
    idx = np.concatenate(tested)
    out = evaluate_regime(proba[idx], ds.take(idx), train_y=ds.y[: idx[0]])
    out.update(samples_total=len(ds), seconds=time.perf_counter() - began, pairs=pairs,
               algorithm=spec.algorithm, machine=machine())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", type=int, default=8)
    ap.add_argument("--algorithm", choices=["ensemble", "lightgbm", "logistic"],
                    default="ensemble")
    ap.add_argument("--pairs", default="BTC/USDT,ETH/USDT,SOL/USDT")
    ap.add_argument("--json")
    args = ap.parse_args()
    res = oos(regime_spec(args.algorithm), args.pairs.split(","), args.splits)
    text = json.dumps(res, indent=1, default=str)
    if args.json:
        Path(args.json).write_text(text)
    for who in ("model", "majority", "prev_regime"):
        m = res[who]
        print(f"{who:12} acc {m['accuracy']:.3f} bal.acc {m['balanced_accuracy']:.3f} "
              f"logloss {m['log_loss'] if m['log_loss'] is None else round(m['log_loss'], 3)} "
              + " ".join(f"{k}: P {v['precision'] if v['precision'] is None else round(v['precision'], 3)}"
                         f" R {round(v['recall'], 3)}" for k, v in m["per_class"].items()))
    print(f"samples {res['samples']} of {res['samples_total']}, class shares "
          f"{res['class_shares']}, {res['seconds']:.0f} s, {res['machine']}")


if __name__ == "__main__":
    main()
