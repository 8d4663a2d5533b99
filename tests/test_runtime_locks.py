"""A close's `cycle:<bot>` locks (`runtime.batch`): taken for all its bots in one round trip,
on the fleet's bus (in process and on the real Redis), with the same outcome as one lock per
bot: a bot whose lock another holder has is skipped and its cycle recorded so, the others run
and free theirs when their cycles close; with the bus away the bots run without locks.
"""

from __future__ import annotations

import uuid

import pytest
from test_bus import KINDS, REDIS_URL, redis_reason
from test_bus_locks import _client_commands
from test_runtime_helpers import HOUR, T0, Captured, bot_yaml, load, runner, venue, write_fleet

from botfleet.bus import open_bus

PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
SKIPPED = "another process is running a cycle of this bot"


def _url(kind: str) -> str:
    if kind == "redis":
        reason = redis_reason()
        if reason:
            pytest.skip(reason)
        return REDIS_URL
    return "memory://"


def _fleet(tmp_path, cache: str) -> tuple[object, list[str]]:
    """Three bots with names of their own (the runner's bus uses the default prefix, which
    other fleets on the same Redis share)."""
    tag = uuid.uuid4().hex[:6]
    names = [f"lk{tag}{i}" for i in range(len(PAIRS))]
    path = write_fleet(tmp_path, {n: bot_yaml(n, p) for n, p in zip(names, PAIRS, strict=True)})
    path.write_text(path.read_text().replace('cache: "memory://"', f'cache: "{cache}"'))
    return load(path), names


def _cycles(ledger, bot: str) -> list[tuple[str, str | None]]:
    import sqlalchemy as sa

    from botfleet.storage.trading import Bot, Cycle

    b, c = Bot.__table__, Cycle.__table__
    with ledger.engine.connect() as conn:
        return [(r.outcome, r.error) for r in conn.execute(
            sa.select(c.c.outcome, c.c.error).join(b, c.c.bot_id == b.c.id)
            .where(b.c.name == bot).order_by(c.c.id))]


@pytest.mark.parametrize("kind", KINDS)
def test_a_close_skips_only_the_bot_whose_cycle_lock_another_holder_has(tmp_path, kind):
    url = _url(kind)
    fleet, names = _fleet(tmp_path, url)
    server = venue()
    run = runner(fleet, server).start()
    other = open_bus(url)  # another process's view of the same locks
    held = other.lock(f"cycle:{names[1]}", ttl_s=60)
    try:
        assert held.acquire()
        server.set_time(T0 + HOUR)
        results = {r.bot: r for r in run.run_once(now_ms=T0 + HOUR)}
        assert [results[n].outcome for n in names] == ["ok", "skipped", "ok"], \
            [results[n].error for n in names]
        assert results[names[1]].error == SKIPPED
        assert _cycles(run.svc.ledger, names[1]) == [("skipped", SKIPPED)]
        # the bots that ran freed their locks as their cycles closed; the holder keeps its own
        assert held.held
        probe = [other.lock(f"cycle:{n}", ttl_s=60) for n in names]
        assert other.locks.acquire_many(probe) == [True, False, True]
        assert other.locks.release_many(probe) == [True, False, True]
        assert held.release()
        server.set_time(T0 + 2 * HOUR)
        again = {r.bot: r for r in run.run_once(now_ms=T0 + 2 * HOUR)}
        assert [again[n].outcome for n in names] == ["ok"] * 3, [again[n].error for n in names]
        assert [o for o, _ in _cycles(run.svc.ledger, names[1])] == ["skipped", "ok"]
    finally:
        held.release()
        run.shutdown(5)
        server.stop()
        other.close()


def test_a_close_takes_its_bots_locks_in_one_command_to_redis(tmp_path):
    url = _url("redis")
    fleet, names = _fleet(tmp_path, url)
    server = venue()
    run = runner(fleet, server).start()
    try:
        server.set_time(T0 + HOUR)
        results = []
        client, lua = _client_commands(
            lambda: results.extend(run.run_once(now_ms=T0 + HOUR)), "botfleet:lock:cycle:lk")
        assert [r.outcome for r in results] == ["ok"] * 3, [r.error for r in results]
        mine = [c for c in client if any(n in c for n in names)]
        takes = [c for c in mine if all(n in c for n in names)]
        assert len(takes) == 1 and takes[0].startswith("EVALSHA"), mine
        assert not [c for c in mine if c.upper().startswith("SET ")], mine  # no lock by itself
        assert sum(c.startswith("set ") and any(n in c for n in names) for c in lua) == 3
        assert len(mine) == 1 + 3  # the batch, then each bot's release as its cycle closed
    finally:
        run.shutdown(5)
        server.stop()


def test_with_the_bus_away_the_bots_run_without_their_locks(tmp_path):
    fleet, names = _fleet(tmp_path, "redis://127.0.0.1:1/0")  # nothing listens there
    server = venue()
    run = runner(fleet, server).start()
    try:
        server.set_time(T0 + HOUR)
        with Captured() as logs:
            results = {r.bot: r for r in run.run_once(now_ms=T0 + HOUR)}
        assert [results[n].outcome for n in names] == ["ok"] * 3, \
            [results[n].error for n in names]
        warned = [r.getMessage() for r in logs.records if "cycle lock unavailable" in
                  r.getMessage()]
        assert sorted(w.split(":")[0] for w in warned) == sorted(f"bot {n}" for n in names)
        assert all("running without it" in w and "Redis unreachable" in w for w in warned)
    finally:
        run.shutdown(5)
        server.stop()
