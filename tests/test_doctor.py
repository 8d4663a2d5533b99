"""`botfleet doctor` on a healthy installation (every check OK, exit 0) and on broken ones —
a state database that does not answer, candles missing, Redis down, a credential unset, a
fleet file with a mistake — where it says what is wrong and what to do, and exits 1.

Real services throughout: a simulator for the exchange, SQLite files, Redis on 127.0.0.1
(its check skipped, saying why, when Redis is absent).
"""

from __future__ import annotations

import json
import socket
import textwrap
import time

import numpy as np
import pytest
from test_bus import REDIS_URL, redis_reason
from test_runtime_helpers import venue
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.data.candles import CANDLE_DTYPE
from botfleet.data.store import SeriesKey, open_store
from botfleet.storage.db import upgrade

HOUR = 3_600_000
ENV = {"DOC_KEY": "key-value-never-shown", "DOC_SECRET": "secret-value-never-shown",
       "PREFECT_API_URL": None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sim():
    server = venue()
    yield server
    server.stop()


def write(root, sim, *, state=None, cache="memory://", candles=True, pairs=("BTC/USDT",)):
    root.mkdir(parents=True, exist_ok=True)
    state = state or f"sqlite:///{root / 'state.db'}"
    (root / "fleet.yaml").write_text(textwrap.dedent(f"""\
        kind: fleet
        version: 1
        name: doc
        storage: {{state: "{state}", candles: "sqlite:///{root / 'candles.db'}",
                   cache: "{cache}"}}
        capital: {{currency: USDT, total: 10000}}
        defaults: {{exchange: binance, timeframe: 1h}}
        exchanges:
          - name: binance
            ccxt_id: binance
            api_url: {sim.base_url}
            credentials: {{api_key: "${{env:DOC_KEY}}", secret: "${{env:DOC_SECRET}}"}}
        strategies:
          - name: updown
            entry: close > open
            exit: close < open
            sizing: {{method: fixed_quote, value: 100}}
        bots:
          - {{kind: bot, version: 1, name: p, pairs: [{pairs[0]}], strategy: updown,
             mode: paper, capital: {{allocation: 1000}}}}
          - {{kind: bot, version: 1, name: l, pairs: [{pairs[0]}], strategy: updown,
             mode: live, capital: {{allocation: 1000}}}}
        """), encoding="utf-8")
    if state.startswith("sqlite"):
        upgrade(state)
    if candles:
        now = int(time.time() * 1000) // HOUR * HOUR
        c = np.zeros(48, dtype=CANDLE_DTYPE)
        c["ts"] = now - HOUR * np.arange(48, 0, -1)
        c["open"] = c["high"] = c["low"] = c["close"] = 100.0
        with open_store(f"sqlite:///{root / 'candles.db'}") as store:
            store.write(SeriesKey("binance", pairs[0], "1h"), c)
    return root / "fleet.yaml"


def doctor(path, *args, env=None):
    res = CliRunner().invoke(app, ["doctor", "--fleet", str(path), *args],
                             env={**ENV, **(env or {})})
    return res.exit_code, res.output


def lines(output: str) -> dict[str, str]:
    """check name -> its line (and its fix line, if any)."""
    out, last = {}, None
    for line in output.splitlines():
        if line[:4] in ("OK  ", "WARN", "FAIL"):
            last = line[6:].split("  ")[0].strip()  # names may hold a space
            out[last] = line
        elif last and line.strip().startswith("fix:"):
            out[last] += "\n" + line
    return out


def test_a_healthy_installation_is_all_ok(tmp_path, sim):
    if redis_reason():
        pytest.skip(redis_reason())
    code, out = doctor(write(tmp_path, sim, cache=REDIS_URL))
    got = lines(out)
    assert code == 0, out
    for name in ("config", "state database", "candle store", "candle freshness", "redis",
                 "exchange:binance", "simulator:binance", "credentials:binance", "disk"):
        assert got[name].startswith("OK"), out
    assert "migrations at head" in got["state database"]
    assert "PING" in got["redis"]
    assert "never-shown" not in out  # credentials resolved, not printed
    assert "prefect" not in got  # PREFECT_API_URL unset: nothing to check


def test_a_state_database_that_does_not_answer_fails_with_what_to_fix(tmp_path, sim):
    dead = ("postgresql+psycopg://botfleet:${env:DOC_PG_PW}@127.0.0.1:"
            f"{free_port()}/botfleet")
    code, out = doctor(write(tmp_path, sim, state=dead), env={"DOC_PG_PW": "pw-never-shown"})
    got = lines(out)
    assert code == 1
    assert got["state database"].startswith("FAIL") and "pg_isready" in got["state database"]
    assert "pw-never-shown" not in out
    assert got["candle store"].startswith("OK")  # the rest is still checked


def test_missing_candles_fail_naming_the_series_and_the_command(tmp_path, sim):
    code, out = doctor(write(tmp_path / "none", sim, candles=False))
    assert code == 1  # no store at all
    assert "FAIL" in lines(out)["candles"] and "botfleet data fetch" in out
    write(tmp_path, sim)  # a store with BTC/USDT ...
    path = write(tmp_path, sim, pairs=("ETH/USDT",), candles=False)  # ... bots on ETH/USDT
    code, out = doctor(path)
    assert code == 1
    got = lines(out)
    assert got["candle store"].startswith("OK")  # the store answers
    assert "binance ETH/USDT 1h (bot l)" in got["candles"] and "botfleet data fetch" in out


def test_redis_down_fails_with_what_to_fix(tmp_path, sim):
    code, out = doctor(write(tmp_path, sim, cache=f"redis://127.0.0.1:{free_port()}/0"))
    got = lines(out)
    assert code == 1
    assert got["redis"].startswith("FAIL") and "start Redis" in got["redis"]


def test_an_unset_credential_is_named_and_a_dead_simulator_fails(tmp_path, sim):
    path = write(tmp_path, sim)
    code, out = doctor(path, "--venue", f"http://127.0.0.1:{free_port()}",
                       env={"DOC_SECRET": None})
    got = lines(out)
    assert code == 1
    assert got["credentials:binance"].startswith("FAIL") and "DOC_SECRET" in out
    assert got["simulator:binance"].startswith("FAIL") and "botfleet venue serve" in out
    assert got["exchange:binance"].startswith("OK")  # the live bots' api_url still answers


def test_a_prefect_api_that_does_not_answer_fails(tmp_path, sim):
    code, out = doctor(write(tmp_path, sim),
                       env={"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"})
    assert code == 1 and lines(out)["prefect"].startswith("FAIL")


def test_a_fleet_with_a_mistake_stops_at_config(tmp_path, sim):
    path = write(tmp_path, sim)
    path.write_text(path.read_text().replace("capital: {currency", "capitol: {currency", 1))
    code, out = doctor(path, "--json")
    assert code == 1
    body = json.loads(out)
    assert body["status"] == "fail"
    assert [c["name"] for c in body["checks"]] == ["config"]
    assert "botfleet validate" in body["checks"][0]["fix"]
