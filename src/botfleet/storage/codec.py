"""Between a `BacktestResult` and the rows that store it: numpy blobs, trade rows, coverage.

Arrays are stored as `.npy` bytes (any numpy reads them; the dtype, shape and byte order travel
with the data) and loaded with pickling refused, since the bytes come from a database. Trade
money crosses the Decimal boundary here (`records._dec`); a trade's bar indices are not stored
but found again from its entry/exit times in the run's own `ts`.
"""

from __future__ import annotations

import io
import math
from decimal import Decimal
from typing import Any

import numpy as np

from botfleet.orders import Reason
from botfleet.sim.records import TRADE_DTYPE, _dec
from botfleet.sim.result import Coverage

MONEY_FIELDS = ("amount", "entry_price", "exit_price", "pnl", "fees", "slippage")


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def from_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def metric_number(metrics: dict[str, Any], name: str) -> float | None:
    """`metrics[name]` if it is a finite number (not a bool, not a rendered string)."""
    value = metrics.get(name)
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number
                                                               | Decimal):
        return None
    return finite(value)


def trade_rows(run_id: int, trades: np.ndarray, ts: np.ndarray,
               symbols: list[str]) -> list[dict[str, Any]]:
    rows = []
    for seq, t in enumerate(np.asarray(trades, dtype=TRADE_DTYPE).tolist()):
        rec = dict(zip(TRADE_DTYPE.names, t, strict=True))
        money = {}
        for name in MONEY_FIELDS:
            if not math.isfinite(rec[name]):
                raise ValueError(f"trade {seq}: {name} is {rec[name]}, money must be finite")
            money[name] = _dec(rec[name])
        rows.append({
            "run_id": run_id, "seq": seq, "symbol": symbols[rec["asset"]],
            "direction": rec["direction"], "entry_ms": int(ts[rec["entry_bar"]]),
            "exit_ms": int(ts[rec["exit_bar"]]), **money, "ret": finite(rec["ret"]),
            "entry_reason": Reason(rec["entry_reason"]).label,
            "exit_reason": Reason(rec["exit_reason"]).label,
        })
    return rows


def trades_array(rows: list[Any], ts: np.ndarray, symbols: list[str]) -> np.ndarray:
    """Trade rows (attribute access, ordered by seq) as a TRADE_DTYPE array."""
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    if not rows:
        return out
    asset = {s: i for i, s in enumerate(symbols)}
    out["asset"] = [asset[r.symbol] for r in rows]
    out["direction"] = [r.direction for r in rows]
    for field in ("entry", "exit"):
        ms = np.array([getattr(r, f"{field}_ms") for r in rows], dtype=np.int64)
        bars = np.searchsorted(ts, ms)
        if np.any(bars >= len(ts)) or np.any(ts[np.minimum(bars, len(ts) - 1)] != ms):
            raise ValueError(f"a trade's {field} time is not a bar of the stored run")
        out[f"{field}_bar"] = bars
        out[f"{field}_reason"] = [Reason[getattr(r, f"{field}_reason").upper()] for r in rows]
    for name in MONEY_FIELDS:
        out[name] = [float(getattr(r, name)) for r in rows]
    out["ret"] = [np.nan if r.ret is None else r.ret for r in rows]
    return out


def coverage_doc(coverage: list[Coverage]) -> list[dict[str, Any]]:
    return [{"symbol": c.symbol, "first_ms": c.first_ms, "last_ms": c.last_ms, "bars": c.bars,
             "missing": c.missing, "source": c.source} for c in coverage]


def coverage_from_doc(doc: list[dict[str, Any]]) -> list[Coverage]:
    return [Coverage(**item) for item in doc]


def decimal_or_none(x: float) -> Decimal | None:
    return None if not math.isfinite(float(x)) else _dec(x)
