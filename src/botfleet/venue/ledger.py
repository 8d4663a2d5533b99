"""Booking one fill: the order's progress, the account's balances and the trade record.

The matching rules say what filled at which price; this is where that becomes money, in Decimal,
Binance's way: a buy pays notional + fee out of what it locked and then out of free quote, a sell
hands over its locked base and receives notional - fee (fees in the quote asset, as the
backtest charges them). When an account cannot pay, the fill shrinks as the backtest shrinks an
entry (`matching.affordable`), and an order that can fill nothing more EXPIRES. Every final
status releases whatever the order still holds locked.
"""

from __future__ import annotations

from decimal import Decimal

from botfleet.orders import OrderStatus, Side
from botfleet.venue import matching as M
from botfleet.venue.book import OrderBook, VenueOrder, VenueTrade
from botfleet.venue.tape import Tape


def book_fill(book: OrderBook, order: VenueOrder, tape: Tape, i: int, action: M.Action,
              ts: int, rate: Decimal, filters) -> VenueTrade | None:
    """Fill what bar i allows of `order` at the action's price; None when nothing filled."""
    if order.quantity is None:  # a quoteOrderQty market order takes its size now
        order.quantity = M.quote_sized(order, action.ref, filters)
        if order.quantity < filters.min_qty:
            finish(book, order, OrderStatus.EXPIRED, ts)
            return None
    amount = M.amount_for(order, tape, i, filters)
    if order.time_in_force == "FOK" and amount < order.remaining:
        finish(book, order, OrderStatus.EXPIRED, ts)
        return None
    if amount <= 0:
        return None
    price = M.price_for(order, tape, i, action, amount, filters)
    account = order.account
    base, quote = order.symbol.split("/")
    if order.side == Side.BUY:
        cash = order.locked + account.free(quote)
        if M.cost(amount, price, rate, filters) > cash:
            amount, price = M.affordable(order, tape, i, action, cash, rate, filters, amount)
            if amount <= 0 or (order.executed == 0 and (
                    amount < filters.min_qty or amount * price < filters.min_notional)):
                finish(book, order, OrderStatus.EXPIRED, ts)
                return None
        fee = M.fee(amount, price, rate, filters)
        total = amount * price + fee
        from_locked = min(order.locked, total)
        account.spend(quote, total, from_locked=from_locked)
        order.locked -= from_locked
        account.credit(base, amount)
    else:
        held = order.locked + account.free(base)
        if amount > held:
            amount = held if filters.step <= 0 else (held // filters.step) * filters.step
            if amount <= 0:
                finish(book, order, OrderStatus.EXPIRED, ts)
                return None
            price = M.price_for(order, tape, i, action, amount, filters)
        fee = M.fee(amount, price, rate, filters)
        from_locked = min(order.locked, amount)
        account.spend(base, amount, from_locked=from_locked)
        order.locked -= from_locked
        account.credit(quote, amount * price - fee)
    trade = VenueTrade(
        id=book.new_trade_id(), order_id=order.id, account=account.name, symbol=order.symbol,
        side=order.side, price=price, qty=amount, commission=fee, commission_asset=quote,
        time=ts, maker=action.maker, ref_price=M.ref_of(order, action, filters),
        client_id=order.client_id, order_type=order.order_type)
    book.add_trade(trade)
    order.trade_ids.append(trade.id)
    order.executed += amount
    order.cum_quote += amount * price
    order.update_time = ts
    if order.remaining <= 0:
        finish(book, order, OrderStatus.FILLED, ts)
    else:
        order.status = OrderStatus.PARTIALLY_FILLED
    return trade


def finish(book: OrderBook, order: VenueOrder, status: OrderStatus, ts: int) -> None:
    """A final status: release what the order still holds and drop it from matching."""
    order.status = status
    order.update_time = max(order.update_time, ts)
    if order.locked > 0:
        order.account.unlock(order.locked_asset, order.locked)
        order.locked = Decimal(0)
    order.version += 1
    book.closed(order)
