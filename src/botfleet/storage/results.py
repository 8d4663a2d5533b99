"""The repository of backtest results: save a `BacktestResult`, get it back, list and compare
runs, delete them.

A save is one transaction: the run row, its trades (one executemany), its equity row and its
other arrays (a few blobs). `get` rebuilds the result: every array bit for bit, trade money as the
floats of the stored Decimals (the 12-decimal rounding of `records._dec`), JSON documents under
the conventions of `columns.Document` (NaN and infinities round-trip).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from botfleet.sim.metrics import drawdown
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE
from botfleet.sim.result import BacktestResult
from botfleet.storage import codec
from botfleet.storage.db import state_engine, transaction, upgrade
from botfleet.storage.models import BacktestArray, BacktestEquity, BacktestRun, BacktestTrade

# what a run is: a plain backtest, a study (optimisation, walk-forward) or one of its parts
KINDS = ("backtest", "optimize", "optimize_trial", "walkforward", "walkforward_window")
_SERIES = "series/"
_ARRAYS = ("cash", "exposure", "close", "fills", "rejects")
_SUMMARY_COLUMNS = ("id", "created_at", "kind", "name", "strategy", "timeframe", "symbols",
                    "start_ms", "end_ms", "bars", "capital", "final_equity", "total_return",
                    "max_drawdown", "trades", "params", "metrics", "parent_id", "tag")


class RunNotFound(KeyError):
    """No stored run has this id."""


@dataclass(frozen=True)
class RunSummary:
    """One line of a run list: what ran, on what, and how it did (no curves, no trades)."""

    id: int
    created_at: datetime
    kind: str
    name: str
    strategy: str
    timeframe: str
    symbols: list[str]
    start_ms: int
    end_ms: int
    bars: int
    capital: Decimal
    final_equity: Decimal | None
    total_return: float | None
    max_drawdown: float | None
    trades: int
    params: dict[str, Any]
    metrics: dict[str, Any]
    parent_id: int | None
    tag: str | None


@dataclass(frozen=True)
class EquityCurve:
    ts: np.ndarray  # int64 ms UTC
    equity: np.ndarray
    drawdown: np.ndarray


def _utc(dt: datetime) -> datetime:
    # SQLite gives back naive datetimes; every stored time is UTC
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _summary(row) -> RunSummary:
    values = {c: getattr(row, c) for c in _SUMMARY_COLUMNS}
    values["created_at"] = _utc(values["created_at"])
    return RunSummary(**values)


def _check(result: BacktestResult, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}; one of {', '.join(KINDS)}")
    n = len(result.ts)
    for name in ("equity", "cash", "exposure"):
        if len(getattr(result, name)) != n:
            raise ValueError(f"{name} has {len(getattr(result, name))} points, ts has {n}")
    if n and np.any(np.diff(result.ts) <= 0):
        raise ValueError("ts must be strictly increasing (one row per bar)")


def _outcome(result: BacktestResult, equity: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The drawdown curve and the list columns: the result's own metrics where it has them (a
    trial stored without its curve or trades still lists its true drawdown and trade count),
    else what its arrays give, by the formulas of `sim.metrics`."""
    capital = float(result.capital)
    dd, max_dd, _ = drawdown(equity, initial=capital)
    final = float(equity[-1]) if len(equity) else capital
    m = result.metrics
    total_return = codec.metric_number(m, "total_return")
    if total_return is None and capital:
        total_return = codec.finite(final / capital - 1)
    max_drawdown = codec.metric_number(m, "max_drawdown")
    if max_drawdown is None and len(equity):
        max_drawdown = codec.finite(max_dd)
    n_trades = codec.metric_number(m, "n_trades")
    return dd, {"final_equity": codec.decimal_or_none(final), "total_return": total_return,
                "max_drawdown": max_drawdown,
                "trades": len(result.trades) if n_trades is None else int(n_trades)}


class ResultStore:
    """Backtest results in the state database at `url`; opening it migrates the database to
    the newest schema (idempotent; pass `migrate=False` when something else owns migrations)."""

    def __init__(self, url: str | URL, *, migrate: bool = True):
        self.engine = state_engine(url)
        if migrate:
            try:
                upgrade(self.engine)
            except BaseException:
                self.engine.dispose()
                raise

    # -- writing -------------------------------------------------------------------------------
    def save(self, result: BacktestResult, kind: str = "backtest", parent_id: int | None = None,
             tag: str | None = None) -> int:
        """Store `result`; returns its run id."""
        _check(result, kind)
        ts = np.asarray(result.ts, dtype=np.int64)
        equity = np.asarray(result.equity, dtype=np.float64)
        dd, outcome = _outcome(result, equity)
        run = {
            "created_at": datetime.now(UTC), "kind": kind, "name": result.name,
            "strategy": result.strategy, "timeframe": result.timeframe,
            "symbols": list(result.symbols), "params": result.params,
            "capital": Decimal(result.capital), "start_ms": result.start_ms,
            "end_ms": result.end_ms, "bars": len(ts), **outcome,
            "fill_model": result.fill_model,
            "coverage": codec.coverage_doc(result.coverage), "metrics": result.metrics,
            "meta": result.meta, "parent_id": parent_id, "tag": tag,
        }
        arrays = {name: getattr(result, name) for name in _ARRAYS}
        arrays |= {_SERIES + name: values for name, values in result.series.items()}
        try:
            with transaction(self.engine, write=True) as conn:
                run_id = conn.execute(insert(BacktestRun).values(run)
                                      .returning(BacktestRun.id)).scalar_one()
                rows = codec.trade_rows(run_id, result.trades, ts, result.symbols)
                if rows:
                    conn.execute(insert(BacktestTrade.__table__), rows)
                conn.execute(insert(BacktestEquity.__table__), [{
                    "run_id": run_id, "points": len(ts), "ts": codec.npy(ts),
                    "equity": codec.npy(equity), "drawdown": codec.npy(dd)}])
                conn.execute(insert(BacktestArray.__table__), [
                    {"run_id": run_id, "name": name, "data": codec.npy(values)}
                    for name, values in arrays.items()])
        except IntegrityError:
            if parent_id is not None and not self._exists(parent_id):
                raise RunNotFound(f"parent run {parent_id} does not exist") from None
            raise
        return run_id

    def set_tag(self, run_id: int, tag: str | None) -> None:
        with transaction(self.engine, write=True) as conn:
            done = conn.execute(update(BacktestRun).where(BacktestRun.id == run_id)
                                .values(tag=tag)).rowcount
        if not done:
            raise RunNotFound(run_id)

    def delete(self, run_id: int) -> bool:
        """Delete a run with its trades, curves and (for a study) its trials or windows.
        False when there was no such run."""
        with transaction(self.engine, write=True) as conn:
            return bool(conn.execute(delete(BacktestRun).where(BacktestRun.id == run_id))
                        .rowcount)

    # -- reading -------------------------------------------------------------------------------
    def _exists(self, run_id: int) -> bool:
        with transaction(self.engine) as conn:
            return conn.execute(select(BacktestRun.id).where(BacktestRun.id == run_id)
                                ).first() is not None

    def get(self, run_id: int) -> BacktestResult:
        with transaction(self.engine) as conn:
            run = conn.execute(select(BacktestRun).where(BacktestRun.id == run_id)).first()
            if run is None:
                raise RunNotFound(run_id)
            curve = conn.execute(select(BacktestEquity.ts, BacktestEquity.equity)
                                 .where(BacktestEquity.run_id == run_id)).one()
            arrays = dict(conn.execute(select(BacktestArray.name, BacktestArray.data)
                                       .where(BacktestArray.run_id == run_id)).all())
            trades = conn.execute(select(BacktestTrade).where(BacktestTrade.run_id == run_id)
                                  .order_by(BacktestTrade.seq)).all()
        ts = codec.from_npy(curve.ts)
        arr = {name: codec.from_npy(data) for name, data in arrays.items()}
        empty = np.zeros(0, dtype=np.float64)
        return BacktestResult(
            name=run.name, strategy=run.strategy, timeframe=run.timeframe,
            symbols=list(run.symbols), params=run.params, capital=run.capital, ts=ts,
            close=arr.get("close", np.zeros((len(ts), len(run.symbols)))),
            equity=codec.from_npy(curve.equity), cash=arr.get("cash", empty),
            exposure=arr.get("exposure", empty),
            fills=arr.get("fills", np.zeros(0, dtype=FILL_DTYPE)),
            trades=codec.trades_array(trades, ts, list(run.symbols)),
            rejects=arr.get("rejects", np.zeros(0, dtype=REJECT_DTYPE)),
            fill_model=run.fill_model, coverage=codec.coverage_from_doc(run.coverage),
            series={name.removeprefix(_SERIES): values for name, values in arr.items()
                    if name.startswith(_SERIES)},
            metrics=run.metrics, meta=run.meta)

    def equity(self, run_id: int) -> EquityCurve:
        """Only the curve a chart needs (one row, three blobs)."""
        with transaction(self.engine) as conn:
            row = conn.execute(select(BacktestEquity).where(BacktestEquity.run_id == run_id)
                               ).first()
        if row is None:
            raise RunNotFound(run_id)
        return EquityCurve(codec.from_npy(row.ts), codec.from_npy(row.equity),
                           codec.from_npy(row.drawdown))

    def list_runs(self, kind: str | None = None, name: str | None = None,
                  strategy: str | None = None, *, parent_id: int | None = None,
                  tag: str | None = None, limit: int = 100, offset: int = 0) -> list[RunSummary]:
        """Runs, newest first, filtered by whichever arguments are given."""
        query = select(*(getattr(BacktestRun, c) for c in _SUMMARY_COLUMNS))
        for column, value in (("kind", kind), ("name", name), ("strategy", strategy),
                              ("parent_id", parent_id), ("tag", tag)):
            if value is not None:
                query = query.where(getattr(BacktestRun, column) == value)
        query = (query.order_by(BacktestRun.created_at.desc(), BacktestRun.id.desc())
                 .limit(limit).offset(offset))
        with transaction(self.engine) as conn:
            return [_summary(row) for row in conn.execute(query)]

    def count(self, kind: str | None = None) -> int:
        query = select(func.count()).select_from(BacktestRun)
        if kind is not None:
            query = query.where(BacktestRun.kind == kind)
        with transaction(self.engine) as conn:
            return conn.execute(query).scalar_one()

    def compare(self, ids: list[int]) -> list[dict[str, Any]]:
        """A table of the runs `ids` (in that order), one row per run with the same keys: what
        ran and its outcome (the `RunSummary` fields), every metric any of them has (None where
        a run lacks it; `metric.<name>` if the name is also a summary field), and every
        parameter as `param.<name>`. `pandas.DataFrame(rows)` is the comparison table."""
        ids = list(dict.fromkeys(ids))
        query = select(*(getattr(BacktestRun, c) for c in _SUMMARY_COLUMNS)).where(
            BacktestRun.id.in_(ids))
        with transaction(self.engine) as conn:
            found = {row.id: _summary(row) for row in conn.execute(query)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise RunNotFound(f"no runs {missing}")
        runs = [found[i] for i in ids]
        metrics = list(dict.fromkeys(k for s in runs for k in s.metrics))
        params = list(dict.fromkeys(k for s in runs for k in s.params))
        fixed = [c for c in _SUMMARY_COLUMNS if c not in ("params", "metrics")]
        table = []
        for s in runs:
            row = {c: getattr(s, c) for c in fixed}
            row |= {(f"metric.{k}" if k in fixed else k): s.metrics.get(k) for k in metrics}
            row |= {f"param.{k}": s.params.get(k) for k in params}
            table.append(row)
        return table

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

