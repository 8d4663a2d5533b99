"""A bot's net position after a fill, in exact `Decimal` arithmetic.

Pure, so the ledger (live and paper fills) and any later reconciliation agree on one formula:
- adding to a position (or opening one) averages the entry price by amount;
- reducing it realises `closed * (price - entry) * direction` and keeps the entry price;
- a fill larger than the position closes it and opens the rest the other way at the fill
  price (a flip);
- fees paid in the quote (or settlement) currency are subtracted from realised PnL when paid,
  so realised PnL is net of them as a `Trade`'s is; fees in another currency (BNB, or the base
  currency on a spot buy) are not money of this symbol and stay on the fill rows.

Prices and PnL are kept at the 12 decimal places money is stored with (`storage.columns`), so
what is computed here is exactly what is read back. The average entry is rounded at each fill
(a position's fills are not replayed), so it can drift from the exact average by up to 1e-12
per fill; amounts and realised PnL against a given entry are exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from botfleet.orders import Position, Side

PLACES = Decimal(1).scaleb(-12)
ZERO = Decimal(0)


def q12(value: Decimal) -> Decimal:
    """`value` at 12 decimal places (banker's rounding, as NUMERIC(38, 12) would store it)."""
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def quote_currency(symbol: str) -> str | None:
    """The currency PnL of `symbol` is in: the settlement currency of a derivative
    (`BTC/USDT:USDT`), else the quote (`BTC/USDT`); None when the symbol has no `/`."""
    if "/" not in symbol:
        return None
    quote = symbol.split("/", 1)[1]
    return quote.split(":", 1)[1] if ":" in quote else quote


def fee_in_quote(symbol: str, fee: Decimal, fee_currency: str | None) -> Decimal:
    """The part of a fee that counts against realised PnL (None as currency means quote, the
    convention of `orders.Fill.fee`)."""
    if fee_currency is None or fee_currency == quote_currency(symbol):
        return fee
    return ZERO


def apply_fill(position: Position, side: Side, amount: Decimal, price: Decimal,
               fee: Decimal = ZERO) -> Position:
    """`position` after `side` traded `amount` at `price`, paying `fee` in the quote
    currency."""
    if amount <= 0:
        raise ValueError(f"{position.symbol}: a fill amount must be positive, got {amount}")
    held, entry = position.amount, position.entry_price
    delta = amount if side == Side.BUY else -amount
    realized = position.realized_pnl - fee
    if held == 0 or (held > 0) == (delta > 0):
        new = held + delta
        entry = q12((abs(held) * entry + amount * price) / abs(new))
    else:
        closed = min(amount, abs(held))
        direction = 1 if held > 0 else -1
        realized += closed * (price - entry) * direction
        new = held + delta
        if new == 0:
            entry = ZERO
        elif (new > 0) != (held > 0):  # flipped: the rest opened at this fill's price
            entry = price
    return Position(position.symbol, new, entry, q12(realized))
