"""Is the promoted version still describing the market it trades? Two measurements:

- **feature drift**: the population stability index (PSI) of each feature's recent values
  against its training distribution. Training stores the deciles of every feature and each
  decile bin's share (`reference`, in the version's metrics), so the check needs no training
  data. PSI = sum over bins of (live share - train share) * ln(live share / train share);
  0.1 is a small shift, 0.25 a large one (the usual reading, and the default limit);
- **hit rate**: the version's long signals (P > 0.5) on the recent bars whose labels have
  resolved, against the hit rate it had on its holdout. Predictions are recomputed from the
  candles with the version itself, so they are what the bots were served.

Over a limit of the model's `drift:` YAML, `check` reports what tripped; `announce` puts a
`model_drift` notification on the fleet's event stream, and the retrain job trains a new
version (`jobs.retrain.on_drift`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec

BINS = 10
EPS = 1e-4  # share floor: an empty bin would make the log infinite


def reference(x: np.ndarray, columns: list[str]) -> dict[str, Any]:
    """Per feature: the inner decile edges of the training values and each bin's share
    (NaN rows have their own share)."""
    out: dict[str, Any] = {"bins": BINS, "n": len(x), "features": {}}
    qs = np.linspace(0, 1, BINS + 1)[1:-1]
    for j, col in enumerate(columns):
        v = x[:, j]
        ok = v[np.isfinite(v)]
        if len(ok) == 0:
            continue
        edges = np.unique(np.quantile(ok, qs))
        out["features"][col] = {"edges": edges.tolist(), "shares": _shares(v, edges).tolist()}
    return out


def _shares(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of values per bin (len(edges) + 1 bins), then the share of missing values."""
    ok = np.isfinite(v)
    counts = np.bincount(np.searchsorted(edges, v[ok], side="right"),
                         minlength=len(edges) + 1).astype(float)
    total = max(len(v), 1)
    return np.append(counts, (~ok).sum()) / total


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), EPS)
    a = np.maximum(np.asarray(actual, dtype=float), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class DriftReport:
    model: str
    version: int
    window: int  # bars read per pair
    psi: dict[str, float] = field(default_factory=dict)
    hit_rate: float | None = None  # live
    hit_rate_train: float | None = None  # holdout
    signals: int = 0  # live long signals with a resolved label
    tripped: list[tuple[str, float, float]] = field(default_factory=list)  # (metric, value, limit)
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.tripped)

    def worst(self) -> tuple[str, float] | None:
        return max(self.psi.items(), key=lambda kv: kv[1]) if self.psi else None

    def lines(self) -> list[str]:
        out = [f"{self.model} version {self.version}: last {self.window} bars per pair"]
        for col, value in sorted(self.psi.items(), key=lambda kv: -kv[1])[:5]:
            out.append(f"  psi {col}: {value:.3f}")
        if self.hit_rate is not None:
            out.append(f"  hit rate of long signals: {self.hit_rate:.3f} on {self.signals} "
                       f"resolved signals (holdout {self.hit_rate_train or float('nan'):.3f})")
        out += [f"  {n}" for n in self.notes]
        out += [f"  DRIFT {m}: {v:.4f} over the limit {lim:.4f}" for m, v, lim in self.tripped]
        if not self.tripped:
            out.append("  no drift over the limits")
        return out


def check(loaded, candles_by_pair: dict[str, np.ndarray], spec: ModelSpec | None = None
          ) -> DriftReport:
    """Drift of `loaded` (an `ml.predict.LoadedModel`) on the newest `drift.window` bars of
    each pair; limits from `spec` (the YAML as it is now) or the version's own spec."""
    from botfleet.ml.dataset import make_dataset
    from botfleet.ml.features import feature_block

    spec = spec or loaded.spec
    window = spec.drift_window
    v = loaded.version
    report = DriftReport(v.name, v.version, window)
    ref = (v.metrics or {}).get("drift_reference") or {}
    recent = {p: np.asarray(c)[-window:] for p, c in candles_by_pair.items()
              if p in loaded.spec.pairs}
    if not recent:
        report.notes.append(f"no candles of {', '.join(loaded.spec.pairs)}")
        return report
    # features: each pair's full history is computed, then its newest `window` rows kept
    rows = np.vstack([feature_block(np.asarray(c), loaded.spec).values[-window:]
                      for p, c in candles_by_pair.items() if p in recent])
    if not ref.get("features"):
        report.notes.append("the version stores no training distribution (trained before "
                            "drift checks existed): feature drift not measured")
    for j, col in enumerate(loaded.columns):
        r = (ref.get("features") or {}).get(col)
        if r is None:
            continue
        edges = np.asarray(r["edges"], dtype=float)
        report.psi[col] = psi(r["shares"], _shares(rows[:, j], edges))
    worst = report.worst()
    if worst is not None and worst[1] > spec.drift_psi:
        report.tripped.append((f"psi:{worst[0]}", worst[1], spec.drift_psi))
    # hit rate of long signals on recent samples whose label has resolved
    if loaded.spec.label.classifier and not loaded.spec.label.multiclass:  # no "long" regime
        ds = make_dataset({p: c for p, c in candles_by_pair.items() if p in recent},
                          loaded.spec)
        first = min(int(c["ts"][0]) for c in recent.values())
        idx = np.nonzero(ds.start >= first)[0]
        if len(idx):
            sub = ds.take(idx)
            longs = loaded.predict(sub.X) > 0.5
            report.signals = int(longs.sum())
            if report.signals:
                report.hit_rate = float(sub.y[longs].mean())
        report.hit_rate_train = (v.metrics.get("model") or {}).get("hit_rate")
        if report.hit_rate is not None and report.hit_rate_train is not None and \
                report.signals >= 30:
            drop = report.hit_rate_train - report.hit_rate
            if drop > spec.drift_hit_rate_drop:
                report.tripped.append(("hit_rate_drop", drop, spec.drift_hit_rate_drop))
        elif report.hit_rate is not None:
            report.notes.append(f"only {report.signals} resolved long signals: hit rate not "
                                "judged (needs 30)")
    return report


def events(report: DriftReport) -> list:
    """One `model_drift` notification per tripped limit."""
    from botfleet.bus import NOTIFICATIONS, Event

    out = []
    for metric, value, limit in report.tripped:
        out.append(Event(NOTIFICATIONS, "model_drift", {
            "event": "model_drift", "severity": "warning", "model": report.model,
            "metric": metric, "value": Decimal(f"{value:.4f}"),
            "limit": Decimal(f"{limit:.4f}"),
            "title": f"model drift: {report.model} v{report.version} {metric}",
            "body": f"{metric} {value:.4f} is over the limit {limit:.4f} on the last "
                    f"{report.window} bars; a new version is being trained"}))
    return out


def announce(cache_url: str, report: DriftReport, *, bus=None) -> int:
    """Put the report's `model_drift` events on the fleet's event stream (`bus`, else the one
    at `cache_url`); how many."""
    from botfleet.bus import open_bus

    evs = events(report)
    if not evs:
        return 0
    own = bus is None
    bus = open_bus(cache_url) if own else bus
    try:
        bus.events.append_many(evs)
    finally:
        if own:
            bus.close()
    return len(evs)
