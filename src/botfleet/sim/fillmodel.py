"""The fill model as configured in YAML (`fills:` of a bot or of the defaults), turned into the
per-bar arrays the kernel reads.

Slippage estimates are causal: the fraction applied to a fill in bar t uses only bars up to t-1
(the spread estimate, the ATR, the volatility), so the fill model cannot leak the fill bar's range
into its own price. The one exception is the volume-impact model, which divides by the fill bar's
own volume, as backtrader's volume filler does; the docs say so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal

import numpy as np

from botfleet.config.units import parse_percent
from botfleet.orders import OrderType

DEFAULT_FEE = Decimal("0.001")  # Binance's base spot rate, when neither YAML nor ccxt says


@dataclass(frozen=True)
class MarketRules:
    """An exchange's trading rules for one pair (what ccxt calls precision and limits)."""

    tick_size: float = 0.0
    step_size: float = 0.0
    min_amount: float = 0.0
    min_notional: float = 0.0


@dataclass(frozen=True)
class FillModel:
    slippage: str = "none"  # none | fixed | spread | atr | volume
    bps: float = 0.0
    spread: float | str | None = None  # bps, or "estimate"
    atr: int = 14
    multiple: float = 0.0
    impact: float = 0.0
    lookback: int = 20
    volume_cap: float = 0.0  # 0: no cap
    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    precision: bool = True
    min_notional: float | None = None
    entry_type: OrderType = OrderType.MARKET
    entry_offset: float = 0.0
    limit_offset: float = 0.0
    entry_expire: int = 1
    shorts: bool | None = None  # None: the market's default (spot: no)
    detail_timeframe: str | None = None
    close_at_end: bool = True
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def from_yaml(cls, data: dict | None) -> FillModel:
        """From schema-valid `fills:` data (the schema has checked every key and unit)."""
        data = data or {}
        slip = data.get("slippage") or {}
        fees = data.get("fees") or {}
        order = data.get("entry_order") or {}

        def pct(value) -> float:
            return float(parse_percent(value).fraction) if value is not None else 0.0

        return cls(
            slippage=slip.get("model", "none"), bps=float(slip.get("bps", 0)),
            spread=slip.get("spread") if slip.get("spread") == "estimate"
            else (float(slip["spread"]) if "spread" in slip else None),
            atr=int(slip.get("atr", 14)), multiple=float(slip.get("multiple", 0)),
            impact=float(slip.get("impact", 0)), lookback=int(slip.get("lookback", 20)),
            volume_cap=pct(data.get("volume_cap")),
            maker_fee=parse_percent(fees["maker"]).fraction if "maker" in fees else None,
            taker_fee=parse_percent(fees["taker"]).fraction if "taker" in fees else None,
            precision=data.get("precision", "exchange") == "exchange",
            min_notional=float(data["min_notional"]) if "min_notional" in data else None,
            entry_type=OrderType[order.get("type", "market").upper()],
            entry_offset=pct(order.get("offset")), limit_offset=pct(order.get("limit_offset")),
            entry_expire=int(order.get("expire", 1)), shorts=data.get("shorts"),
            detail_timeframe=data.get("detail_timeframe"),
            close_at_end=data.get("close_at_end", True))

    def with_fees(self, maker: Decimal | None, taker: Decimal | None) -> FillModel:
        """Fill in fees the YAML left out (from the exchange file or ccxt's schedule)."""
        return FillModel(**{**asdict(self),
                            "maker_fee": self.maker_fee if self.maker_fee is not None else maker,
                            "taker_fee": self.taker_fee if self.taker_fee is not None else taker})

    @property
    def fees(self) -> tuple[float, float]:
        maker = self.maker_fee if self.maker_fee is not None else DEFAULT_FEE
        taker = self.taker_fee if self.taker_fee is not None else DEFAULT_FEE
        return float(maker), float(taker)

    def describe(self) -> dict[str, str]:
        """The assumptions in words, for reports and stored runs."""
        maker, taker = self.fees
        out = {
            "market orders": "fill at the next bar's open" + self._slip_words(),
            "fees": f"maker {maker:.4%}, taker {taker:.4%} of notional, charged in quote",
            "limit orders": "fill only when the price trades through the limit, at the limit",
            "stop and take-profit in one bar": (
                f"resolved with {self.detail_timeframe} candles" if self.detail_timeframe
                else "the stop is assumed to come first (the worse outcome)"),
            "precision": ("amounts rounded down to the lot size, prices to the tick; orders "
                          "under the minimum amount or notional rejected"
                          if self.precision else "none (exact arithmetic)"),
            "entries": self.entry_type.name.lower().replace("_", "-") + (
                f" orders {self.entry_offset:.3%} from the close, valid {self.entry_expire} "
                "bar(s)" if self.entry_type != OrderType.MARKET else " orders"),
            "volume cap": (f"{self.volume_cap:.2%} of a bar's volume per order; the rest "
                           "fills on later bars" if self.volume_cap else "none"),
            "shorts": "allowed" if self.shorts else "not allowed",
            "open positions at the end": "closed at the last close" if self.close_at_end
            else "left open (marked to market)",
        }
        for i, note in enumerate(self.notes):
            out[f"note {i + 1}"] = note
        return out

    def _slip_words(self) -> str:
        if self.slippage == "fixed":
            return f", {self.bps:g} bps slippage against the order"
        if self.slippage == "spread":
            what = ("half the spread estimated from the previous bars' high/low "
                    "(Corwin-Schultz, 20-bar mean)" if self.spread == "estimate"
                    else f"half of a {self.spread:g} bps spread")
            return f", paying {what}"
        if self.slippage == "atr":
            return f", slippage {self.multiple:g} x ATR({self.atr}) of the previous bar"
        if self.slippage == "volume":
            return (f", square-root impact {self.impact:g} x volatility({self.lookback}) x "
                    "sqrt(order / bar volume)")
        return " (no slippage)"

    def slip_constant(self) -> float | None:
        """The slippage fraction of every bar for the models that do not read the candles,
        None for the others: a constant needs no per-bar array in the kernel."""
        if self.slippage == "fixed":
            return self.bps / 10_000.0
        if self.slippage == "spread":
            return None if self.spread == "estimate" else float(self.spread or 0) / 20_000.0
        if self.slippage == "atr":
            return None
        return 0.0

    def slip_frac(self, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
        """(T,) slippage fraction per fill bar for the price-based models (causal)."""
        constant = self.slip_constant()
        if constant is not None:
            return np.full(len(close), constant)
        if self.slippage == "spread":  # the estimate
            return _shift(_rolling_mean(corwin_schultz(high, low), 20) / 2.0)
        import talib

        atr = talib.ATR(high, low, close, timeperiod=self.atr)
        return _shift(np.nan_to_num(self.multiple * atr / close, nan=0.0))

    def sigma_constant(self) -> float | None:
        """As `slip_constant`, for `sigma`: only the volume model measures volatility."""
        return None if self.slippage == "volume" else 0.0

    def sigma(self, close: np.ndarray) -> np.ndarray:
        """(T,) per-bar log-return volatility for the volume-impact model (causal)."""
        constant = self.sigma_constant()
        if constant is not None:
            return np.full(len(close), constant)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.diff(np.log(close), prepend=np.nan)
        return _shift(np.nan_to_num(_rolling_std(r, self.lookback), nan=0.0))


def corwin_schultz(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Corwin & Schultz (2012) bid-ask spread from two consecutive bars' high/low; negative
    estimates (common in calm bars) count as zero, as the paper suggests."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hl = np.log(high / low) ** 2
        beta = hl + np.roll(hl, 1)
        h2 = np.maximum(high, np.roll(high, 1))
        l2 = np.minimum(low, np.roll(low, 1))
        gamma = np.log(h2 / l2) ** 2
        k = 3.0 - 2.0 * np.sqrt(2.0)
        alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
        s = 2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha))
    s[0] = np.nan
    return np.clip(np.nan_to_num(s, nan=0.0), 0.0, None)


def _shift(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    out[0] = 0.0
    out[1:] = x[:-1]
    return np.nan_to_num(out, nan=0.0)


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    c = np.cumsum(np.insert(x, 0, 0.0))
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1:] = (c[n:] - c[:-n]) / n
    return out


def _rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    import talib

    return talib.STDDEV(np.nan_to_num(x, nan=0.0), timeperiod=n, nbdev=1.0) * np.sqrt(n / (n - 1))
