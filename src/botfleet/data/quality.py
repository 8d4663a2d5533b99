"""Data quality: what is wrong with a batch of candles, and what may be written.

Two classes of findings. *Bad rows* can not be real candles (NaN, non-positive prices, high
below low, open or close outside the range, duplicate or misaligned or out-of-order times);
they are never written silently: a batch with bad rows is rejected whole, or written without
them, by the `data.on_bad_rows` setting, and the report names every bad row by its timestamp.
*Warnings* describe real markets that look odd (gaps, runs of zero volume, returns beyond N
sigma): exchanges do halt and prices do crash, so these rows are kept and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, is_aligned
from botfleet.data.store.base import find_gaps

BAD = ("nan", "non_positive", "high_below_low", "open_outside_range", "close_outside_range",
       "duplicate", "non_monotonic", "misaligned")
WARN = ("gap", "zero_volume_run", "outlier")


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Finding:
    kind: str
    ts: tuple[int, ...]  # open times concerned (for a gap: its first and last missing candle)
    detail: str = ""

    @property
    def bad(self) -> bool:
        return self.kind in BAD

    def __str__(self) -> str:
        if self.kind == "gap":
            return f"gap: {self.detail} from {iso(self.ts[0])} to {iso(self.ts[1])}"
        shown = ", ".join(iso(t) for t in self.ts[:5]) + (" …" if len(self.ts) > 5 else "")
        return f"{self.kind}: {len(self.ts)} at {shown}" + (f" ({self.detail})"
                                                           if self.detail else "")


@dataclass
class QualityReport:
    rows: int
    findings: list[Finding] = field(default_factory=list)
    bad_mask: np.ndarray | None = None  # True for rows that must not be written

    @property
    def bad_rows(self) -> int:
        return int(self.bad_mask.sum()) if self.bad_mask is not None else 0

    @property
    def ok(self) -> bool:
        return self.bad_rows == 0

    def lines(self) -> list[str]:
        return [str(f) for f in self.findings]


class BadCandles(ValueError):
    """A batch held bad rows and the policy is to reject it whole."""

    def __init__(self, report: QualityReport, where: str = ""):
        self.report = report
        super().__init__(f"{where}{report.bad_rows} bad row(s) of {report.rows}; batch "
                         "rejected: " + "; ".join(report.lines()))


def check(candles: np.ndarray, timeframe: str, *, outlier_sigma: float = 10.0,
          zero_volume_run: int = 3) -> QualityReport:
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    report = QualityReport(len(c))
    bad = np.zeros(len(c), dtype=bool)

    def flag(kind: str, mask: np.ndarray, detail: str = "") -> None:
        if mask.any():
            report.findings.append(Finding(kind, tuple(int(t) for t in c["ts"][mask]), detail))
            if kind in BAD:
                bad[mask] = True

    prices = np.column_stack([c[f] for f in ("open", "high", "low", "close", "volume")])
    flag("nan", np.isnan(prices).any(axis=1) if len(c) else bad.copy())
    with np.errstate(invalid="ignore"):
        flag("non_positive", (prices[:, :4] <= 0).any(axis=1) | (c["volume"] < 0)
             if len(c) else bad.copy())
        flag("high_below_low", c["high"] < c["low"])
        flag("open_outside_range", (c["open"] > c["high"]) | (c["open"] < c["low"]))
        flag("close_outside_range", (c["close"] > c["high"]) | (c["close"] < c["low"]))
    ts = c["ts"]
    if len(c) > 1:
        flag("duplicate", np.concatenate([[False], ts[1:] == ts[:-1]]))
        flag("non_monotonic", np.concatenate([[False], ts[1:] < ts[:-1]]))
    flag("misaligned", ~np.asarray(is_aligned(ts, timeframe), dtype=bool) if len(c) else bad)
    good = c[~bad]
    order = np.argsort(good["ts"], kind="stable")
    good = good[order]
    for gap in find_gaps(good["ts"], timeframe):
        report.findings.append(Finding("gap", (gap.start, gap.end),
                                       f"{gap.missing} candle(s) missing"))
    _zero_volume(report, good, zero_volume_run)
    _outliers(report, good, outlier_sigma)
    report.bad_mask = bad
    return report


def _zero_volume(report: QualityReport, c: np.ndarray, run: int) -> None:
    zero = c["volume"] == 0
    if not zero.any():
        return
    edges = np.diff(np.concatenate([[0], zero.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    for s, e in zip(starts, ends):
        if e - s >= run:
            report.findings.append(Finding("zero_volume_run", tuple(int(t) for t in
                                                                    c["ts"][s:e]),
                                           f"{e - s} candles without volume"))


def _outliers(report: QualityReport, c: np.ndarray, sigma: float) -> None:
    if len(c) < 30 or sigma <= 0:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(c["close"]))
    r = np.where(np.isfinite(r), r, 0.0)
    sd = r.std()  # crypto returns are fat-tailed: a robust (MAD) sigma flags ordinary days
    if not sd:
        return
    hits = np.nonzero(np.abs(r - r.mean()) > sigma * sd)[0] + 1
    if len(hits):
        report.findings.append(Finding("outlier", tuple(int(t) for t in c["ts"][hits]),
                                       f"return beyond {sigma:g} sigma"))


def clean(candles: np.ndarray, timeframe: str, policy: str = "reject", *,
          where: str = "", **options) -> tuple[np.ndarray, QualityReport]:
    """The rows that may be written under `policy` ('reject' or 'drop'), and the report."""
    if policy not in ("reject", "drop"):
        raise ValueError(f"on_bad_rows must be 'reject' or 'drop', not {policy!r}")
    report = check(candles, timeframe, **options)
    if report.ok:
        return np.asarray(candles, dtype=CANDLE_DTYPE), report
    if policy == "reject":
        raise BadCandles(report, where)
    kept = np.asarray(candles, dtype=CANDLE_DTYPE)[~report.bad_mask]
    return kept[np.argsort(kept["ts"], kind="stable")], report
