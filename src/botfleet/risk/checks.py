"""The pre-trade check: one order intent against the resolved limits of the bot, its exchange
and the fleet, over the snapshot the runtime passed in. Pure: no I/O, no clock, no state.

Edges: a value exactly at its limit is allowed and anything beyond is refused (size, position,
open positions, exposure, rate, band, notional, loss, drawdown, balance, cooldown end). The one
exception is the count the schema words as a trigger: `max_consecutive_losses: 4` pauses after
the 4th loss in a row ("pause after this many").

Risk-reducing orders (they shrink |position| on the pair without crossing zero, counting the
bot's working orders on that side) are never refused by size, position, exposure or time
limits, nor by a halt (kill switch, open breaker, loss limits): a bot may always get smaller.
They still meet the price band, min notional, order rate and free balance, which protect
against mistakes rather than risk. The decision's `notes` say what was waived.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime
from decimal import Decimal

from botfleet.orders import OrderType, Side
from botfleet.risk.book import Book, Leg, RiskContext, base_of, quote_of
from botfleet.risk.decision import Decision, Refusal, RiskInputError, fmt_money
from botfleet.risk.limits import LevelLimits

ZERO = Decimal(0)
ONE = Decimal(1)
EMPTY = Leg()
_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)


def fmt_pct(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01')).normalize():f}%"


def fmt_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_span(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def _ref_price(ctx: RiskContext, bot: str) -> Decimal | None:
    o = ctx.order
    if o.type is OrderType.MARKET:
        return ctx.last_price
    if o.type in _PRICED:
        if type(o.price) is not Decimal or not o.price.is_finite() or o.price <= 0:
            raise RiskInputError(f"order {o.client_id or '?'} of bot {bot} on {o.symbol}: a "
                                 f"{o.type.ccxt} order needs a price > 0, got {o.price!r}")
        return o.price
    if type(o.stop_price) is not Decimal or not o.stop_price.is_finite() or o.stop_price <= 0:
        raise RiskInputError(f"order {o.client_id or '?'} of bot {bot} on {o.symbol}: a "
                             f"stop order needs a stop_price > 0, got {o.stop_price!r}")
    return o.stop_price


def _book_for(level: LevelLimits, ctx: RiskContext) -> Book | None:
    book = ctx.bot if level.level == "bot" else (
        ctx.exchange if level.level == "exchange" else ctx.fleet)
    if book is None and level.needs_book:
        raise RiskInputError(f"limits are declared at {level.where} but the context has no "
                             f"{level.level} book (RiskContext.{level.level})")
    return book


def check(levels: tuple[LevelLimits, ...], bot: str, spot: bool, ctx: RiskContext) -> Decision:
    o = ctx.order
    amount = o.amount
    if type(amount) is not Decimal or not amount.is_finite() or amount <= 0:
        raise RiskInputError(f"order {o.client_id or '?'} of bot {bot} on {o.symbol}: amount "
                             f"must be a finite Decimal > 0, got {amount!r}")
    last = ctx.last_price
    if last is not None and (type(last) is not Decimal or not last.is_finite() or last <= 0):
        raise RiskInputError(f"bot {bot}: last price of {o.symbol} must be a finite Decimal > 0 "
                             f"or None, got {last!r}")
    ref = _ref_price(ctx, bot)
    sym = o.symbol
    if ref is None:
        return Decision(False, [Refusal("last_price", "bot", None, None,
                                        f"last_price (bot {bot}): no last price for {sym} to "
                                        "value a market order", bot)])
    notional = amount * ref
    buy = o.side is Side.BUY
    leg = ctx.bot.legs.get(sym, EMPTY)
    pos = leg.position
    if buy:
        reducing = pos < 0 and pos + leg.pending_buy + amount <= 0
    else:
        reducing = pos > 0 and pos - leg.pending_sell - amount >= 0
    refusals: list[Refusal] = []
    if o.reduce_only and not reducing:
        refusals.append(Refusal("reduce_only", "bot", None, pos,
                                f"reduce_only (bot {bot}): a {'buy' if buy else 'sell'} of "
                                f"{fmt_money(amount)} would not reduce the {sym} position of "
                                f"{fmt_money(pos)} (working orders counted)", bot))
    opens = leg.worst == 0
    now = ctx.now_ms
    for lim in levels:
        book = _book_for(lim, ctx)
        if not reducing:
            if lim.max_order_size is not None and notional > lim.max_order_size.amount:
                refusals.append(_r(lim, "max_order_size", lim.max_order_size.amount, notional,
                                   f"order of {fmt_money(notional)} {lim.currency} exceeds "
                                   f"{lim.max_order_size.text}"))
            if book is not None:
                _grow(lim, book, sym, buy, amount, ref, opens, refusals)
                if lim.timed:
                    _time_limits(lim, book, sym, now, refusals)
        if lim.max_order_rate is not None:
            n, window = lim.max_order_rate
            times = book.order_times
            recent = len(times) - bisect_right(times, now - window)
            if recent + 1 > n:
                refusals.append(_r(lim, "max_order_rate", n, recent + 1,
                                   f"{recent + 1} orders within {fmt_span(window)} would exceed "
                                   f"{n}/{fmt_span(window)}"))
        if lim.price_band is not None and o.type in _PRICED:
            if last is None:
                refusals.append(_r(lim, "price_band", lim.price_band, None,
                                   f"no last price for {sym} to check the limit price "
                                   f"{fmt_money(o.price)} against"))
            else:
                dev = abs(o.price - last) / last
                if dev > lim.price_band:
                    refusals.append(_r(lim, "price_band", lim.price_band, dev,
                                       f"limit price {fmt_money(o.price)} is {fmt_pct(dev)} from "
                                       f"the last price {fmt_money(last)}, band "
                                       f"{fmt_pct(lim.price_band)}"))
        if lim.min_notional is not None and notional < lim.min_notional.amount:
            refusals.append(_r(lim, "min_notional", lim.min_notional.amount, notional,
                               f"order of {fmt_money(notional)} {lim.currency} is below "
                               f"{lim.min_notional.text}"))
    _balance(ctx, bot, spot, buy, amount, notional, reducing, sym, refusals)
    halts = _halts(ctx, now)
    notes: tuple[str, ...] = ()
    if reducing:
        first = (f"risk-reducing order (the {sym} position of {fmt_money(pos)} shrinks): size, "
                 "position, exposure and time limits do not apply")
        notes = (first, *(f"allowed under {h.message}" for h in halts))
    else:
        refusals.extend(halts)
    return Decision(not refusals, refusals, notes, reducing)


def _r(lim: LevelLimits, rule: str, limit, value, text: str) -> Refusal:
    return Refusal(rule, lim.level, limit, value, f"{rule} ({lim.where}): {text}", lim.target)


def _grow(lim: LevelLimits, book: Book, sym: str, buy: bool, amount: Decimal, ref: Decimal,
          opens: bool, refusals: list[Refusal]) -> None:
    """Position, open-position and exposure limits: judged on how much the order can grow
    this level's worst case, so an order that does not add risk never trips them."""
    leg = book.legs.get(sym, EMPTY)
    p, pb, ps = leg.position, leg.pending_buy, leg.pending_sell
    before = max(abs(p + pb), abs(p - ps))
    after = max(abs(p + pb + amount), abs(p - ps)) if buy else max(abs(p + pb),
                                                                  abs(p - ps - amount))
    grow = after - before
    if grow > 0:
        ccy = lim.currency
        if lim.max_position is not None and after * ref > lim.max_position.amount:
            value = after * ref
            refusals.append(_r(lim, "max_position", lim.max_position.amount, value,
                               f"{sym} position of {fmt_money(value)} {ccy} would exceed "
                               f"{lim.max_position.text}"))
        added = grow * ref
        if lim.max_exposure_per_asset is not None:
            asset = base_of(sym)
            value = book.exposure.get(asset, ZERO) + added
            if value > lim.max_exposure_per_asset.amount:
                refusals.append(_r(lim, "max_exposure_per_asset",
                                   lim.max_exposure_per_asset.amount, value,
                                   f"{asset} exposure of {fmt_money(value)} {ccy} would exceed "
                                   f"{lim.max_exposure_per_asset.text}"))
        if lim.max_total_exposure is not None:
            value = book.total_exposure + added
            if value > lim.max_total_exposure.amount:
                refusals.append(_r(lim, "max_total_exposure", lim.max_total_exposure.amount,
                                   value, f"total exposure of {fmt_money(value)} {ccy} would "
                                   f"exceed {lim.max_total_exposure.text}"))
    if opens and lim.max_open_positions is not None and \
            book.open_positions + 1 > lim.max_open_positions:
        refusals.append(_r(lim, "max_open_positions", lim.max_open_positions,
                           book.open_positions + 1,
                           f"opening {sym} would make {book.open_positions + 1} open positions, "
                           f"limit {lim.max_open_positions}"))


def _time_limits(lim: LevelLimits, book: Book, sym: str, now: int,
                 refusals: list[Refusal]) -> None:
    """Limits over time block new entries; the state comes from `history.performance`."""
    perf = book.performance
    if perf is None:
        raise RiskInputError(f"limits over time are declared at {lim.where} but its book has "
                             "no performance (Book.performance, from risk.history.performance)")
    if lim.max_daily_loss is not None:
        loss = perf.daily_loss
        if loss > lim.max_daily_loss.amount:
            refusals.append(_r(lim, "max_daily_loss", lim.max_daily_loss.amount, loss,
                               f"lost {fmt_money(loss)} {lim.currency} since 00:00 UTC "
                               f"(realised and unrealised), limit {lim.max_daily_loss.text}; "
                               "no new entries until 00:00 UTC"))
    if lim.max_drawdown is not None:
        dd = perf.drawdown
        if dd > lim.max_drawdown:
            refusals.append(_r(lim, "max_drawdown", lim.max_drawdown, dd,
                               f"equity {fmt_money(perf.equity)} is {fmt_pct(dd)} below its peak "
                               f"{fmt_money(perf.peak_equity)}, limit "
                               f"{fmt_pct(lim.max_drawdown)}"))
    if lim.max_consecutive_losses is not None and \
            perf.losing_streak >= lim.max_consecutive_losses:
        refusals.append(_r(lim, "max_consecutive_losses", lim.max_consecutive_losses,
                           perf.losing_streak,
                           f"{perf.losing_streak} losing trades in a row, pause after "
                           f"{lim.max_consecutive_losses}"))
    if lim.cooldown_after_stop_ms is not None:
        stopped = perf.last_stop_ms.get(sym)
        if stopped is not None and now < stopped + lim.cooldown_after_stop_ms:
            until = stopped + lim.cooldown_after_stop_ms
            refusals.append(_r(lim, "cooldown_after_stop", lim.cooldown_after_stop_ms,
                               now - stopped,
                               f"{sym} was stopped out at {fmt_time(stopped)}; no new entry "
                               f"before {fmt_time(until)} "
                               f"({fmt_span(lim.cooldown_after_stop_ms)} cooldown)"))


def breaches(levels: tuple[LevelLimits, ...], books: dict[str, Book], now: int
             ) -> list[Refusal]:
    """The loss limits (daily loss, drawdown, losing streak) breached now, whatever the next
    order: the runner trips the level's circuit breaker with them, so a breach is an event
    and an alert once, not a refusal noticed at the next entry. `books`: level -> book."""
    out: list[Refusal] = []
    for lim in levels:
        book = books.get(lim.level)
        if lim.timed and book is not None:
            _time_limits(lim, book, "", now, out)
    return [r for r in out if r.rule != "cooldown_after_stop"]


def _balance(ctx: RiskContext, bot: str, spot: bool, buy: bool, amount: Decimal,
             notional: Decimal, reducing: bool, sym: str, refusals: list[Refusal]) -> None:
    """Enough free balance: a buy's cost with the fee in the quote currency; on spot a sell
    needs the base it sells (no borrowing). Contracts reserve margin only to add risk."""
    if buy or not spot:
        if reducing and not spot:
            return
        ccy = quote_of(sym)
        need = notional * (ONE + ctx.fee_rate)
        what = f"buying {fmt_money(amount)} {sym} costs" if buy else "the order needs"
    else:
        ccy = base_of(sym)
        need = amount
        what = f"selling {fmt_money(amount)} {sym} needs"
    free = ctx.free.get(ccy, ZERO)
    if need > free:
        refusals.append(Refusal("free_balance", "bot", free, need,
                                f"free_balance (bot {bot}): {what} {fmt_money(need)} {ccy}"
                                f"{' with fees' if buy and ctx.fee_rate else ''}, free "
                                f"{fmt_money(free)} {ccy}", bot))


def _halts(ctx: RiskContext, now: int) -> list[Refusal]:
    out = []
    kill = ctx.kill
    if kill is not None and kill.in_force(now):
        out.append(Refusal("kill_switch", kill.level, kill.mode, kill.label,
                           f"kill_switch ({kill.label}): {kill.mode} engaged by {kill.actor} at "
                           f"{fmt_time(kill.engaged_at_ms)}: {kill.reason}", kill.target))
    for b in ctx.breakers:
        if b.halts(now):
            until = f" until {fmt_time(b.open_until_ms)}" if b.open_until_ms else ""
            out.append(Refusal("circuit_breaker", b.level, b.rule, b.state,
                               f"circuit_breaker ({b.level} {b.target}): open since "
                               f"{fmt_time(b.since_ms)}{until} ({b.rule}: {b.detail})", b.target))
    return out
