"""The exchange's and the fleet's books for one tick, read once for all the bots cycling.

Limits declared at exchange or fleet level bound the sum of many bots; at a close where a
hundred bots cycle, each reading every other bot's positions would be a hundred times the
same queries. So the runner reads them once per tick, before the cycles, and each cycle judges
its orders against that snapshot (orders sent by other bots during the same tick are not in
it: the aggregate limits see them at the next tick).
"""

from __future__ import annotations

from dataclasses import replace

from botfleet.runtime.books import BotState, aggregate
from botfleet.runtime.cycle import Aggregates
from botfleet.sim.bots import bot_capital

ORDER_TIMES_MS = 3_600_000  # the aggregate books' recent orders: the last hour's


def aggregates_for(runner, now_ms: int, plans, known: dict[str, BotState] | None = None
                   ) -> Aggregates:
    """`known`: states the batch read at `now_ms` with order times since at least
    ORDER_TIMES_MS ago (`tick.prepare`); only the other bots are read again."""
    needs = set()
    for plan in plans:
        needs |= plan.engine.needs
    if not needs & {"exchange", "fleet"}:
        return Aggregates()
    fleet = runner.fleet
    bots = fleet.enabled_bots()
    midnight, since = now_ms - now_ms % 86_400_000, now_ms - ORDER_TIMES_MS
    known = known or {}
    read = runner.svc.reader.read([b.name for b in bots if b.name not in known],
                                  midnight_ms=midnight, since_ms=since)
    states = {b.name: read[b.name] if b.name not in known else replace(
        known[b.name], order_times=[t for t in known[b.name].order_times if t >= since])
        for b in bots}
    capital = {b.name: bot_capital(fleet, b) for b in bots}
    prices = runner.svc.feed.last_closes()
    out = Aggregates()
    if "exchange" in needs:
        for name in {p.exchange.name for p in plans}:
            mine = {b.name: states[b.name] for b in bots if b.exchange == name}
            out.exchange[name] = aggregate(mine, capital, prices)
    if "fleet" in needs:
        out.fleet = aggregate(states, capital, prices)
    return out
