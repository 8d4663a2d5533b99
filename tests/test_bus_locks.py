"""Many locks at once (`bus.locks.acquire_many` / `release_many`), over `memory://` and the
real Redis: each lock in a batch behaves exactly as if taken or freed on its own (TTL, token,
only the holder frees), batches and single holders exclude each other both ways, and on Redis
a batch is one command from the client, whatever its size (seen with MONITOR).
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from test_bus import KINDS, REDIS_URL, make_bus, redis_reason

from botfleet.bus import BusValueError


@pytest.fixture(params=KINDS)
def bus(request):
    b = make_bus(request.param)
    yield b
    b.purge()
    b.close()


def test_acquire_many_takes_the_free_locks_and_says_which(bus):
    other = bus.lock("cycle:b1", ttl_s=5)
    assert other.acquire()
    batch = [bus.lock(f"cycle:b{i}", ttl_s=5) for i in range(4)]
    assert bus.locks.acquire_many(batch) == [True, False, True, True]
    assert [lk.held for lk in batch] == [True, False, True, True]
    assert other.held  # the batch took nothing from the holder
    # batch-taken locks exclude single holders, and their holders extend them as usual
    assert not bus.lock("cycle:b0", ttl_s=5).acquire()
    assert batch[2].extend(10)
    assert bus.locks.acquire_many([bus.lock("cycle:b2", ttl_s=5)]) == [False]
    assert bus.locks.release_many(batch) == [True, False, True, True]
    assert other.held and not any(lk.held for lk in batch)
    assert bus.locks.acquire_many([bus.lock(f"cycle:b{i}", 5) for i in (0, 2, 3)]) == \
        [True, True, True]
    assert bus.locks.acquire_many([]) == [] and bus.locks.release_many([]) == []


def test_release_many_frees_only_what_each_object_holds(bus):
    stale, never, mine = (bus.lock("a", ttl_s=0.2), bus.lock("b", ttl_s=5),
                          bus.lock("c", ttl_s=5))
    assert bus.locks.acquire_many([stale, mine]) == [True, True]
    time.sleep(0.3)  # stale's TTL ran out...
    taker = bus.lock("a", ttl_s=5)
    assert taker.acquire()  # ...and another holder took it
    # refused: not held any more / never held; a holder listed twice is freed once
    assert bus.locks.release_many([stale, never, mine, mine]) == [False, False, True, False]
    assert taker.held
    assert not bus.lock("a", ttl_s=5).acquire()
    assert bus.lock("c", ttl_s=5).acquire()
    # freed one by one what was taken in a batch, and the other way round
    x = bus.lock("x", ttl_s=5)
    assert bus.locks.acquire_many([x]) == [True]
    assert x.release() and not x.held
    assert x.acquire()
    assert bus.locks.release_many([x]) == [True]
    assert bus.lock("x", ttl_s=5).acquire()


def test_each_lock_of_a_batch_keeps_its_own_ttl(bus):
    short, long = bus.lock("short", ttl_s=0.2), bus.lock("long", ttl_s=5)
    assert bus.locks.acquire_many([short, long]) == [True, True]
    assert not bus.lock("short", ttl_s=5).acquire()
    time.sleep(0.3)
    assert not short.held and long.held
    assert bus.locks.acquire_many([bus.lock("short", 5), bus.lock("long", 5)]) == [True, False]


def test_one_name_twice_in_a_batch_goes_to_the_first(bus):
    first, second = bus.lock("dup", ttl_s=5), bus.lock("dup", ttl_s=5)
    assert bus.locks.acquire_many([first, second]) == [True, False]
    assert first.held and not second.held
    same = bus.lock("again", ttl_s=5)
    assert bus.locks.acquire_many([same, same]) == [True, False]  # not re-entrant
    assert same.held
    assert bus.locks.release_many([second, first]) == [False, True]


def test_a_batch_refuses_what_is_not_a_lock_of_its_bus_and_takes_nothing(bus):
    good = bus.lock("good", ttl_s=5)
    with pytest.raises(BusValueError, match=r"acquire_many: item 1 \('cycle:b1'\) is not a "
                                            "lock of this bus"):
        bus.locks.acquire_many([good, "cycle:b1"])
    assert not good.held and bus.lock("good", ttl_s=5).acquire()
    other = make_bus(bus.kind, prefix=bus.prefix)  # same names, but another bus object
    try:
        with pytest.raises(BusValueError, match="release_many: item 0 .*not a lock of this bus"):
            bus.locks.release_many([other.lock("good", ttl_s=5)])
        assert other.locks.acquire_many([other.lock("good", 5)]) == [False]  # same lock table
    finally:
        other.close()


def test_batches_exclude_each_other_across_threads(bus):
    """Four threads take overlapping batches of eight names in random orders: a name is never
    held by two threads at once, and what a thread took it can always free."""
    names = [f"n{i}" for i in range(8)]
    inside = dict.fromkeys(names, 0)
    state = {"overlaps": 0, "taken": 0, "refused_release": 0}
    guard = threading.Lock()

    def work(seed: int):
        rng = random.Random(seed)
        for _ in range(25):
            batch = [bus.lock(n, ttl_s=5) for n in rng.sample(names, 5)]
            got = bus.locks.acquire_many(batch)
            held = [lk for lk, ok in zip(batch, got, strict=True) if ok]
            with guard:
                for lk in held:
                    inside[lk.name] += 1
                    state["overlaps"] += inside[lk.name] > 1
                    state["taken"] += 1
            time.sleep(0.0005)
            with guard:
                for lk in held:
                    inside[lk.name] -= 1
            state["refused_release"] += bus.locks.release_many(held).count(False)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert state["overlaps"] == 0 and state["refused_release"] == 0
    assert state["taken"] >= 100  # the batches did take locks (25 rounds x 4 threads)
    assert set(inside.values()) == {0}


def _client_commands(action, marker: str) -> tuple[list[str], list[str]]:
    """Run `action` under Redis MONITOR; the client commands and the commands run by Lua
    scripts that mention `marker`."""
    import redis

    r = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    sentinel = f"{marker}end:{uuid.uuid4().hex}"
    client, lua = [], []
    try:
        with r.monitor() as mon:
            action()
            r.get(sentinel)
            while True:
                cmd = mon.next_command()
                if sentinel in cmd["command"]:
                    break
                if marker in cmd["command"]:
                    (lua if cmd["client_type"] == "lua" else client).append(cmd["command"])
    finally:
        r.close()
    return client, lua


def test_a_redis_batch_of_100_locks_is_one_command():
    reason = redis_reason()
    if reason:
        pytest.skip(reason)
    bus = make_bus("redis")
    try:
        bus.locks.acquire_many([bus.lock("warm", 5)])  # the scripts are loaded (no NOSCRIPT)
        bus.locks.release_many([bus.lock("warm", 5)])
        locks = [bus.lock(f"cycle:b{i}", ttl_s=5) for i in range(100)]
        client, lua = _client_commands(lambda: bus.locks.acquire_many(locks),
                                       bus.prefix + "lock:cycle:")
        assert len(client) == 1 and client[0].startswith("EVALSHA") and " 100 " in client[0]
        assert len(lua) == 100 and all(c.startswith("set ") and " NX PX 5000" in c for c in lua)
        client, lua = _client_commands(lambda: bus.locks.release_many(locks),
                                       bus.prefix + "lock:cycle:")
        assert len(client) == 1 and client[0].startswith("EVALSHA")
        assert sorted(c.split()[0] for c in lua) == ["del"] * 100 + ["get"] * 100
    finally:
        bus.purge()
        bus.close()
