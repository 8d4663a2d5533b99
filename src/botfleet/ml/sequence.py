"""Sequence learners (LSTM, a small Transformer encoder) over windows of the feature rows.

A sample's input is the `seq_len` feature rows of its own market ending at its bar, flattened
into one row (`window_block`, oldest bar first). Doing the windowing where the feature rows are
made, one market at a time, is what keeps every caller honest without knowing about sequences:
a window holds only that bar's and earlier rows (no look-ahead), never rows of another pair
(pooled pairs are windowed before they are pooled), and the training, point-in-time, drift and
live paths all see the same columns. The learner reshapes the row back to [seq_len, features].

Determinism: the weights, dropout and batch order come from `spec.seed` in a forked RNG, with
`torch.use_deterministic_algorithms` and one thread unless asked for more, so the same data
gives the same predictions bit for bit. Artefacts are a `state_dict` (loaded with
`weights_only=True`, which runs no code) beside a JSON of the configuration and the scaling.
PyTorch is an optional extra; nothing here imports it until a learner is built.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

SEQUENCE_ALGORITHMS = ("lstm", "transformer")
COMMON = {"layers": 1, "dropout": 0.0, "epochs": 30, "batch_size": 256, "lr": 1e-3,
          "seq_len": 32, "patience": 5}
DEFAULTS = {"lstm": {**COMMON, "hidden": 32},
            "transformer": {**COMMON, "layers": 2, "dropout": 0.1, "d_model": 32, "heads": 4}}
INT_KEYS = ("hidden", "layers", "heads", "d_model", "epochs", "batch_size", "seq_len",
            "patience")
STATE_FILE = "sequence.pt"
CONFIG_FILE = "sequence.json"
VALIDATION_SHARE = 0.2  # newest share of the training samples that decides early stopping
MIN_PART = 10  # samples the fitting and the validation part each need at least


def is_sequence(spec) -> bool:
    return spec.algorithm in SEQUENCE_ALGORITHMS


def param_problems(algorithm: str, params: dict) -> list[tuple[str, str]]:
    """(key, why) for every hyper-parameter of a sequence learner that is unknown or out of
    range; the config validator and `sequence_params` both read this."""
    allowed = DEFAULTS[algorithm]
    out = []
    for key, value in params.items():
        if isinstance(value, Decimal):  # YAML numbers, as the validator reads them
            value = int(value) if value == value.to_integral_value() else float(value)
        if key not in allowed:
            out.append((key, (f"'{key}' is not a parameter of '{algorithm}' (it takes: "
                              f"{', '.join(sorted(allowed))})")))
        elif key in INT_KEYS and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            out.append((key, f"'{key}' must be a whole number of at least 1, got {value!r}"))
        elif key == "dropout" and not (isinstance(value, (int, float)) and 0 <= value < 1):
            out.append((key, f"'dropout' must be a fraction in [0, 1), got {value!r}"))
        elif key == "lr" and not (isinstance(value, (int, float)) and value > 0):
            out.append((key, f"'lr' must be a number above 0, got {value!r}"))
    merged = {**allowed, **params}
    if algorithm == "transformer" and not out and merged["d_model"] % merged["heads"]:
        out.append(("heads", (f"d_model {merged['d_model']} is not a multiple of heads "
                              f"{merged['heads']}")))
    return out


def sequence_params(spec) -> dict:
    """The spec's hyper-parameters over the defaults; `ModelError` naming the file and key."""
    from botfleet.ml.train import ModelError

    problems = param_problems(spec.algorithm, spec.params)
    if spec.label.type == "regime":
        problems.append(("name", (f"'{spec.algorithm}' predicts two classes or a return, "
                                  "not the three regimes of a 'regime' label")))
    if problems:
        key, why = problems[0]
        where = "algorithm.name" if key == "name" else f"algorithm.params.{key}"
        raise ModelError(f"{spec.source or spec.name}: {where}: {why}")
    return {**DEFAULTS[spec.algorithm], **spec.params}


def seq_len(spec) -> int:
    return int(sequence_params(spec)["seq_len"]) if is_sequence(spec) else 1


def window_names(names: list[str], length: int) -> list[str]:
    return [f"{n}@{lag}" if lag else n for lag in range(length - 1, -1, -1) for n in names]


def window_values(values: np.ndarray, length: int) -> np.ndarray:
    """Row t = rows t-length+1 .. t of `values` (one market's consecutive bars), oldest first,
    flattened; NaN where the window reaches before the first bar."""
    n, k = values.shape
    padded = np.vstack([np.full((length - 1, k), np.nan), values])
    view = np.lib.stride_tricks.sliding_window_view(padded, length, axis=0)  # [n, k, length]
    return np.ascontiguousarray(view.transpose(0, 2, 1)).reshape(n, length * k)


def latest_window(parts: list[np.ndarray], length: int) -> np.ndarray:
    """The newest window from per-feature tails (`features.latest_row`): each part holds the
    last rows of its feature columns; short tails are NaN-padded at the front."""
    rows = []
    for p in parts:
        p = p[-length:]
        if len(p) < length:
            p = np.vstack([np.full((length - len(p), p.shape[1]), np.nan), p])
        rows.append(p)
    return np.concatenate(rows, axis=1).reshape(-1)


@contextmanager
def _torch_state(threads: int, seed: int):
    """One thread count, deterministic kernels and a private RNG for the block; the
    process's previous settings are restored afterwards (live bots share the process)."""
    import torch

    threads_before = torch.get_num_threads()
    det_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield torch
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(det_before)


@dataclass
class SequenceModel:
    """A sequence learner with the interface `ml.train`, `ml.predict` and `ml.artefacts` use."""

    algorithm: str
    params: dict
    classifier: bool
    seed: int
    threads: int = 1
    n_features: int = 0
    mean: list | None = None  # per base feature, from the fitted training rows
    std: list | None = None
    y_mean: float = 0.0  # regression targets are scaled, predictions scaled back
    y_std: float = 1.0
    epochs_run: int = 0
    best_epoch: int = 0
    net: object = None

    @classmethod
    def from_spec(cls, spec, *, threads: int | None = None) -> SequenceModel:
        return cls(spec.algorithm, sequence_params(spec), spec.label.classifier, spec.seed,
                   threads or 1)

    def _inputs(self, X: np.ndarray):
        import torch

        L = int(self.params["seq_len"])
        x = np.asarray(X, dtype=float)
        if x.ndim != 2 or x.shape[1] % L:
            raise ValueError(f"expected rows of seq_len {L} x features, got shape {x.shape}")
        x = x.reshape(len(x), L, x.shape[1] // L)
        x = (x - np.asarray(self.mean)) / np.asarray(self.std)
        return torch.from_numpy(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
                                .astype(np.float32))

    def _build(self, torch):
        from botfleet.ml.sequence_nets import build_net

        return build_net(self.algorithm, self.params, self.n_features)

    def fit(self, X: np.ndarray, y: np.ndarray, start: np.ndarray, end: np.ndarray,
            purge_ms: int) -> SequenceModel:
        """Train on the older samples, stop early on the newest `VALIDATION_SHARE` of them;
        samples whose label reads bars within `purge_ms` of the validation part are left out
        of both, as the holdout split does."""
        L = int(self.params["seq_len"])
        y = np.asarray(y, dtype=float)
        order = np.argsort(start, kind="stable")
        cut_ts = int(start[order[int(len(order) * (1 - VALIDATION_SHARE))]]) if len(y) else 0
        val = start >= cut_ts
        tr = (end + purge_ms < cut_ts) & ~val
        if tr.sum() < MIN_PART or val.sum() < MIN_PART:
            raise ValueError(f"{int(tr.sum())} samples to fit and {int(val.sum())} to validate "
                             f"after the purge; each needs at least {MIN_PART}")
        self.n_features = X.shape[1] // L
        now = np.asarray(X[tr], dtype=float).reshape(int(tr.sum()), L, self.n_features)[:, -1]
        self.mean = np.nan_to_num(np.nanmean(now, axis=0)).tolist()
        sd = np.nan_to_num(np.nanstd(now, axis=0))
        self.std = np.where(sd > 0, sd, 1.0).tolist()
        if not self.classifier:
            self.y_mean = float(np.mean(y[tr]))
            self.y_std = float(np.std(y[tr])) or 1.0
        yt = (y - self.y_mean) / self.y_std
        with _torch_state(self.threads, self.seed) as torch:
            self.net = self._build(torch)
            self._train(torch, self._inputs(X[tr]), torch.from_numpy(yt[tr].astype(np.float32)),
                        self._inputs(X[val]), torch.from_numpy(yt[val].astype(np.float32)))
        return self

    def _train(self, torch, xt, yt, xv, yv) -> None:
        p = self.params
        loss_fn = torch.nn.BCEWithLogitsLoss() if self.classifier else torch.nn.MSELoss()
        opt = torch.optim.Adam(self.net.parameters(), lr=float(p["lr"]))
        gen = torch.Generator().manual_seed(self.seed)
        best, best_state, stale = float("inf"), None, 0
        for epoch in range(int(p["epochs"])):
            self.net.train()
            for idx in torch.randperm(len(xt), generator=gen).split(int(p["batch_size"])):
                opt.zero_grad()
                loss_fn(self.net(xt[idx]), yt[idx]).backward()
                opt.step()
            self.net.eval()
            with torch.no_grad():
                v = float(loss_fn(self.net(xv), yv))
            self.epochs_run = epoch + 1
            if v < best:
                best, stale, self.best_epoch = v, 0, epoch + 1
                best_state = {k: t.clone() for k, t in self.net.state_dict().items()}
            else:
                stale += 1
                if stale >= int(p["patience"]):
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """P(label = 1) for classifiers, the predicted return for a `return` label."""
        if len(X) == 0:
            return np.empty(0)
        x = self._inputs(X)
        with _torch_state(self.threads, self.seed) as torch, torch.no_grad():
            out = torch.cat([self.net(b) for b in x.split(4096)])
            out = torch.sigmoid(out) if self.classifier else out
        scores = out.double().numpy()
        return scores if self.classifier else scores * self.y_std + self.y_mean

    def save(self, folder: Path) -> None:
        import torch

        torch.save(self.net.state_dict(), Path(folder) / STATE_FILE)
        config = {k: getattr(self, k) for k in ("algorithm", "params", "classifier", "seed",
                                                "threads", "n_features", "mean", "std",
                                                "y_mean", "y_std", "epochs_run", "best_epoch")}
        (Path(folder) / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SequenceModel:
        """The saved learner; `ModelError` when PyTorch (an optional extra) is missing."""
        try:
            import torch
        except ImportError:
            from botfleet.ml.train import ModelError

            raise ModelError(f"{folder}: a sequence model needs the 'torch' extra "
                             "(torch==2.13.0 CPU build), not installed (docs/ml.md)") from None
        folder = Path(folder)
        for name in (STATE_FILE, CONFIG_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"model file missing: {folder / name}")
        model = cls(**json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")))
        model.net = model._build(torch)
        model.net.load_state_dict(torch.load(folder / STATE_FILE, weights_only=True))
        model.net.eval()
        return model
