"""A cycle work factory (`BOTFLEET_CYCLE_WORK=cycle_probe:probe_work`) for the tests that
serve deployments: each bot's cycle is recorded in Redis with its start, end and process, so
the test sees what ran, when and where across the flow runs' processes; Redis keys inject a
failure (a bot's first call raises) or slowness (a bot's first call sleeps) per bot.

It stands in for the trading runtime's cycle only where the test is about orchestration
(schedules, retries, overlaps); tests/test_flows.py runs the runtime's own cycle.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager

import redis

PROBE_URL = "BOTFLEET_PROBE_REDIS"
PROBE_PREFIX = "BOTFLEET_PROBE_PREFIX"


class InjectedFailure(RuntimeError):
    """The failure a test asked for."""


@contextmanager
def probe_work(load, bots):
    r = redis.Redis.from_url(os.environ[PROBE_URL])
    p = os.environ[PROBE_PREFIX]

    def run(bot: str, timeout_s: float) -> dict:
        n = r.incr(f"{p}calls:{bot}")
        start = time.time()
        if n == 1 and r.sismember(f"{p}fail_first", bot):
            r.rpush(f"{p}log", json.dumps({"bot": bot, "n": n, "start": start,
                                           "end": time.time(), "pid": os.getpid(),
                                           "failed": True}))
            raise InjectedFailure(f"{bot}: injected failure on call {n}")
        if n == 1:
            time.sleep(float(r.hget(f"{p}slow_first", bot) or 0))
        r.rpush(f"{p}log", json.dumps({"bot": bot, "n": n, "start": start, "end": time.time(),
                                       "pid": os.getpid(), "failed": False}))
        return {"calls": n}

    try:
        yield run
    finally:
        r.close()
