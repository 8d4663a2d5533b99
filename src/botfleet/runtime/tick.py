"""Everything the cycles of one close read from the state database, read once for all of them.

At a 4h boundary a hundred bots close together, and each cycle starts by asking the database
the same questions about its own bot: is this candle's cycle done already, what does it hold
and have working, what did it fill, what state are its breakers in, is it halted by
reconciliation, which kill switches hold. Asked bot by bot that is two thousand small
queries, and SQLAlchemy's per-statement cost, not the database, would decide how long the
fleet takes to decide. Asked here once for the whole batch it is about a dozen, and the
cycles' records are opened in one transaction. Each cycle still reads its own bot again after
it has sent orders (what the fills changed), so nothing here can go stale where it matters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC

import sqlalchemy as sa

from botfleet.execution import halts
from botfleet.execution.bookkeeping import AUDIT, CYCLES
from botfleet.execution.records import CycleRecord
from botfleet.risk.breaker import BreakerState
from botfleet.runtime.aggregate import ORDER_TIMES_MS
from botfleet.runtime.books import BOTS, BotState, StateReader, to_ms
from botfleet.runtime.controls import PauseInfo, read_paused
from botfleet.runtime.services import DONE_OUTCOMES
from botfleet.runtime.timing import last_closed_open
from botfleet.storage.db import transaction
from botfleet.storage.risk_models import RiskBreaker

BREAKERS = RiskBreaker.__table__
_DONE_KEYS = sa.select(CYCLES.c.bot_id, CYCLES.c.key).where(
    CYCLES.c.bot_id.in_(sa.bindparam("ids", expanding=True)),
    CYCLES.c.key.in_(sa.bindparam("keys", expanding=True)),
    CYCLES.c.outcome.in_(DONE_OUTCOMES))
_HALTS = sa.select(AUDIT.c.target, AUDIT.c.action).where(
    AUDIT.c.id.in_(sa.select(sa.func.max(AUDIT.c.id)).where(
        AUDIT.c.target.in_(sa.bindparam("targets", expanding=True)),
        AUDIT.c.action.in_((halts.HALT, halts.RESUME))).group_by(AUDIT.c.target)))
_BREAKERS = sa.select(BREAKERS)
_BEGIN = CYCLES.insert()
_IDS = sa.select(CYCLES.c.correlation_id, CYCLES.c.id).where(
    CYCLES.c.correlation_id.in_(sa.bindparam("cids", expanding=True)))


@dataclass
class Prepared:
    """The batch's reads at `now_ms`; `cycles`: bot -> its cycle record, opened."""

    now_ms: int
    states: dict[str, BotState] = field(default_factory=dict)
    fills: dict[str, tuple[list, dict]] = field(default_factory=dict)
    breakers: dict[tuple[str, str], BreakerState] = field(default_factory=dict)
    halted: set[str] = field(default_factory=set)
    paused: dict[str, PauseInfo] = field(default_factory=dict)  # runtime.controls
    done: set[str] = field(default_factory=set)
    candles: dict[str, int] = field(default_factory=dict)
    cycles: dict[str, CycleRecord] = field(default_factory=dict)


def _breaker(row) -> BreakerState:
    """A `risk_breakers` row as `RiskStore.load_breaker` reads it."""
    c = row.counters or {}
    return BreakerState(row.level, row.target, row.state, to_ms(row.since),
                        row.open_until and to_ms(row.open_until), row.rule, row.detail,
                        int(c.get("consecutive", 0)),
                        tuple(int(t) for t in c.get("error_times", ())),
                        {k: int(v) for k, v in (c.get("counts") or {}).items()}, row.trips)


def prepare(svc, plans, now_ms: int, run_ids: dict[str, int]) -> Prepared:
    """Read for every plan's bot and open the cycles of those not done with this close."""
    out = Prepared(now_ms)
    names = [p.name for p in plans]
    out.candles = {p.name: last_closed_open(now_ms, p.timeframe) for p in plans}
    svc.killswitch.refresh()  # the cycles' start: a switch engaged elsewhere holds from here
    engine = svc.ledger.engine
    with transaction(engine) as conn:
        ids = {r.name: r.id for r in conn.execute(
            sa.select(BOTS.c.id, BOTS.c.name).where(BOTS.c.name.in_(names)))}
        keys = sorted({str(c) for c in out.candles.values()})
        by_id = {v: k for k, v in ids.items()}
        for bot_id, key in conn.execute(_DONE_KEYS, {"ids": list(ids.values()), "keys": keys}):
            name = by_id[bot_id]
            if key == str(out.candles[name]):
                out.done.add(name)
        for target, action in conn.execute(_HALTS, {"targets": [halts.target(n)
                                                                for n in names]}):
            if action == halts.HALT:
                out.halted.add(target.removeprefix("bot:"))
        for row in conn.execute(_BREAKERS):
            out.breakers[(row.level, row.target)] = _breaker(row)
        out.paused = read_paused(conn)
    todo = [n for n in names if n not in out.done]
    midnight = now_ms - now_ms % 86_400_000
    reader = StateReader(engine)
    # order times as far back as the aggregate books want them too, so that they need not
    # read these bots again (a risk check counts only those within its own window)
    window = max(max((p.rate_window_ms for p in plans), default=60_000), ORDER_TIMES_MS)
    out.states = reader.read(todo, midnight_ms=midnight, since_ms=now_ms - window)
    out.fills = reader.fills_of(todo)
    out.cycles = _begin(svc, {n: out.candles[n] for n in todo}, ids, run_ids)
    return out


def _begin(svc, candles: dict[str, int], ids: dict[str, int], run_ids: dict[str, int]
           ) -> dict[str, CycleRecord]:
    """Open one cycle per bot (key: its candle time, a fresh correlation id) in one
    transaction, as `Ledger.begin_cycle` opens one."""
    if not candles:
        return {}
    now = svc.ledger.now()
    rows = [{"bot_id": ids[name], "run_id": run_ids.get(name), "key": str(candle),
             "correlation_id": uuid.uuid4().hex, "candle_ms": candle, "started_at": now}
            for name, candle in candles.items()]
    with transaction(svc.ledger.engine, write=True) as conn:
        conn.execute(_BEGIN, rows)
        got = dict(conn.execute(_IDS, {"cids": [r["correlation_id"] for r in rows]}).all())
    started = now if now.tzinfo else now.replace(tzinfo=UTC)
    return {name: CycleRecord(got[r["correlation_id"]], name, r["key"], r["correlation_id"],
                              r["candle_ms"], r["run_id"], started)
            for name, r in zip(candles, rows, strict=True)}

