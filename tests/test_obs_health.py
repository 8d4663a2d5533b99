"""`/health` against real services: 200 with every check's JSON when PostgreSQL and Redis
answer, 503 naming the one that does not (a port nothing listens on) and what to do; the fleet
runner's own health over its database, bus, simulator and candle feed.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from test_bus import REDIS_URL, redis_reason
from test_runtime_helpers import HOUR, T0, bot_yaml, find_close, load, runner, venue, write_fleet

from botfleet.obs.health import FAIL, OK, WARN, CachedHealth, run_probes
from botfleet.obs.metrics import serve_http
from botfleet.runtime import health

from storage_fixtures import state_url  # noqa: F401 - fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def serve(probes: dict):
    return serve_http(0, health=CachedHealth(probes, ttl_s=0))


@pytest.fixture
def pg(state_url):  # noqa: F811
    from botfleet.storage.db import upgrade

    url = state_url("postgresql")
    upgrade(url)
    return url


@pytest.fixture
def redis_url():
    reason = redis_reason()
    if reason:
        pytest.skip(reason)
    return REDIS_URL


def test_health_is_200_with_every_check_when_postgresql_and_redis_answer(pg, redis_url):
    srv = serve({"database": lambda: health.database(pg), "redis": lambda: health.redis(redis_url)})
    try:
        code, body = get(srv.url + "/health")
    finally:
        srv.stop()
    assert code == 200, body
    assert body["status"] == OK
    assert body["checks"]["database"]["status"] == OK
    assert "migrations at head" in body["checks"]["database"]["detail"]
    assert body["checks"]["redis"]["status"] == OK
    assert "PING" in body["checks"]["redis"]["detail"]


def test_health_is_503_naming_postgresql_when_it_does_not_answer(redis_url):
    dead = f"postgresql+psycopg://botfleet:s3cret@127.0.0.1:{free_port()}/test"
    srv = serve({"database": lambda: health.database(dead),
                 "redis": lambda: health.redis(redis_url)})
    try:
        code, body = get(srv.url + "/health")
    finally:
        srv.stop()
    assert code == 503
    assert body["status"] == FAIL
    db = body["checks"]["database"]
    assert db["status"] == FAIL and "pg_isready" in db["fix"]
    assert "s3cret" not in json.dumps(body)  # the password never leaves
    assert body["checks"]["redis"]["status"] == OK


def test_health_is_503_naming_redis_when_it_does_not_answer(pg):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    srv = serve({"database": lambda: health.database(pg), "redis": lambda: health.redis(dead)})
    try:
        code, body = get(srv.url + "/health")
    finally:
        srv.stop()
    assert code == 503
    assert body["checks"]["database"]["status"] == OK
    r = body["checks"]["redis"]
    assert r["status"] == FAIL and "start Redis" in r["fix"]


def test_a_database_behind_its_migrations_fails_saying_to_upgrade(state_url):  # noqa: F811
    url = state_url("postgresql")  # an empty schema: reachable, never migrated
    check = health.database(url)
    assert check.status == FAIL
    assert "botfleet db upgrade" in check.fix


def test_a_probe_that_hangs_fails_within_the_timeout():
    import threading

    gate = threading.Event()
    report = run_probes({"slow": lambda: gate.wait(5) and None}, timeout_s=0.2)
    gate.set()
    assert report.status == FAIL
    assert "no answer within 0.2 s" in report.checks[0].detail


def test_freshness_warns_on_a_late_candle_and_fails_on_a_stale_one():
    step = HOUR
    now = T0 + 10 * HOUR
    assert health.freshness([("a", now - 60_000, step)], now).status == OK
    assert health.freshness([("a", now - int(1.5 * HOUR), step)], now).status == WARN
    stale = health.freshness([("a", now - 3 * HOUR, step)], now)
    assert stale.status == FAIL and "a 10,800s behind" in stale.detail
    assert health.freshness([("a", now - 3 * HOUR, step)], now, 4 * 3600).status == WARN


def test_the_runners_health_reads_its_own_database_bus_exchange_and_feed(tmp_path):
    server = venue()
    fleet = load(write_fleet(tmp_path, {"h": bot_yaml("h")}))
    run = runner(fleet, server).start()
    try:
        check = health.runner_health(run, ttl_s=0)
        up = find_close(server, "BTC/USDT", T0 + HOUR, True)
        server.set_time(up)
        before = check().as_dict()
        assert before["checks"]["data"]["status"] == WARN  # nothing read yet
        run.run_once(now_ms=up)
        srv = serve_http(0, health=check)
        try:
            code, body = get(srv.url + "/health")
        finally:
            srv.stop()
        assert code == 200, body
        assert {k: v["status"] for k, v in body["checks"].items()} == {
            "database": OK, "redis": OK, "exchange:binance": OK, "data": OK}
        server.set_time(up + 3 * HOUR)  # no cycle since: the candles fall behind
        code, body = get_health(check)
        assert code == 503 and body["checks"]["data"]["status"] == FAIL
    finally:
        run.shutdown()
        server.stop()


def get_health(check) -> tuple[int, dict]:
    srv = serve_http(0, health=check)
    try:
        return get(srv.url + "/health")
    finally:
        srv.stop()
