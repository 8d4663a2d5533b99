"""Shared builders for the runtime tests (no tests here; the name keeps it with them): a fleet
written to a temporary folder, a simulator on a seeded synthetic market under a manual clock,
and a runner connected to it through the real ccxt client.

The market is synthetic (labelled so by the simulator): the tests need a market that exists
without the shared data files and is the same at every run; what a bot decides at each close
is computed from the same candles in the test, so no expectation depends on the seed's luck.
"""

from __future__ import annotations

import logging
import textwrap
import uuid
from pathlib import Path

import numpy as np

from botfleet.data.candles import timeframe_ms
from botfleet.runtime.logctx import ContextFilter

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
SEED = 11
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")

FLEET = """
kind: fleet
version: 1
name: rt
storage: {{state: "sqlite:///{state}", candles: "sqlite:///candles.db", cache: "memory://"}}
capital: {{currency: USDT, total: 10000}}
defaults: {{exchange: binance, timeframe: 1h, mode: paper}}
exchanges:
  - name: binance
    ccxt_id: binance
    credentials: {{api_key: "${{env:RT_KEY}}", secret: "${{env:RT_SECRET}}"}}
strategies:
  - name: updown
    parameters: {{n: {{default: 10, range: [2, 50]}}}}
    entry: close > open
    exit: close < open
    stops: {{stop_loss: 3%}}
    sizing: {{method: fixed_quote, value: 200}}
{plugged}bots: [bots.d/*.yaml]
"""
PLUGGED = """\
  - name: crash
    indicators: {b: boom_rt(close)}
    entry: b > 0
    exit: b < 0
  - name: sleepy
    indicators: {z: nap_rt(close)}
    entry: z > 0
    exit: z < 0
"""

PLUGIN = '''
"""Test plugins: an indicator that fails and one that takes its time."""
import time

import numpy as np

from botfleet.indicators import Indicator, Param


def boom(close, period):
    raise RuntimeError("boom_rt: this plugin indicator always fails")


def nap(close, period):
    time.sleep(period / 10)
    return (np.asarray(close, dtype=float),)


INDICATORS = [
    Indicator(name="boom_rt", inputs=("close",), params=(Param("period", "int", 3, 1, 100),),
              outputs=("boom_rt",), compute=boom, warmup=lambda p: 0),
    Indicator(name="nap_rt", inputs=("close",), params=(Param("period", "int", 20, 1, 100),),
              outputs=("nap_rt",), compute=nap, warmup=lambda p: 0),
]
'''


def bot_yaml(name: str, pair: str = "BTC/USDT", strategy: str = "updown", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        kind: bot
        version: 1
        name: {name}
        pairs: [{pair}]
        strategy: {strategy}
        capital: {{allocation: 1000}}
        """) + textwrap.dedent(extra)


def write_fleet(root: Path, bots: dict[str, str], *, plugins: bool = False) -> Path:
    """A fleet in `root` with the given bot files (name -> YAML); returns fleet.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    state = root / f"state-{uuid.uuid4().hex[:6]}.db"
    text = textwrap.dedent(FLEET).format(state=state, plugged=PLUGGED if plugins else "")
    (root / "fleet.yaml").write_text(text.lstrip(), encoding="utf-8")
    (root / "bots.d").mkdir(exist_ok=True)
    for name, text in bots.items():
        (root / "bots.d" / f"{name}.yaml").write_text(text, encoding="utf-8")
    if plugins:
        (root / "plugins").mkdir(exist_ok=True)
        (root / "plugins" / "rt_plugins.py").write_text(PLUGIN, encoding="utf-8")
    return root / "fleet.yaml"


def load(path: Path):
    from botfleet.runtime.reload import load_checked

    got = load_checked(path)
    assert got.ok, [str(p) for p in got.errors]
    return got


def venue(symbols=SYMBOLS, **kw):
    """A simulator on a synthetic market, manual clock at T0; 60 days of history."""
    from botfleet.venue import BinanceServer, synthetic_market

    market = synthetic_market(SEED, T0 - 60 * 86_400_000, T0 + 20 * 86_400_000,
                              symbols=symbols)
    market.clock.set(T0)
    return BinanceServer(market, order_limit=0, **kw).start()


def runner(fleet_load, server, bots=None, **options):
    from botfleet.runtime.connect import venue_connection
    from botfleet.runtime.runner import FleetRunner, RunnerOptions

    configs = [fleet_load.fleet.bots[n] for n in (bots or fleet_load.fleet.bots)]
    conn = venue_connection(server, fleet_load.fleet, configs)
    opts = {"workers": 4, "reload_every_s": 0, "reconcile_wait_s": 0, **options}
    return FleetRunner(fleet_load, conn, bots=bots, mode="paper",
                       options=RunnerOptions(**opts))


def bar(server, symbol: str, open_ms: int, tf: str = "1h") -> np.void:
    """The candle of `symbol` opening at `open_ms`, as the simulator serves it."""
    c = server.market.candles(symbol, tf)
    i = int(np.searchsorted(c["ts"], open_ms))
    assert int(c["ts"][i]) == open_ms
    return c[i]


def find_close(server, symbol: str, start: int, want_up: bool, tf: str = "1h") -> int:
    """The first close time at or after `start` whose closing candle went up (or down)."""
    step = timeframe_ms(tf)
    t = start
    while True:
        b = bar(server, symbol, t - step, tf)
        if (b["close"] > b["open"]) == want_up and b["close"] != b["open"]:
            return t
        t += step


class Captured(logging.Handler):
    """Every record with the context filter applied (what `logctx.install` attaches)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self):
        root = logging.getLogger()
        # levels an earlier command of this process set on botfleet's loggers (the YAML's
        # `logging.levels`, the main job's quiet replay) would hide the records looked for
        self._levels = {name: logging.getLogger(name).level
                        for name in ("", "botfleet", "botfleet.runtime", "botfleet.execution")}
        root.addHandler(self)
        for name in self._levels:
            logging.getLogger(name).setLevel(logging.DEBUG if not name else logging.NOTSET)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


def events_of(correlation_id: str) -> list:
    """Every event on this process's in-memory bus with that correlation id."""
    from botfleet.bus import open_bus

    bus = open_bus("memory://")
    got = bus.events.read(f"t-{uuid.uuid4().hex[:8]}", "c", count=100_000)
    return [e for e in got if e.correlation_id == correlation_id]
