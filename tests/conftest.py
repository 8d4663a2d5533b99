"""Shared test helpers. The repository root is the example fleet; tests write temp fleets."""

from __future__ import annotations

import ipaddress
import socket
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):
    """Tests talk to 127.0.0.1 and nothing else: resolving any other host fails at once."""
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        allowed = ipaddress.ip_address(name).is_loopback
    except ValueError:
        allowed = name in ("localhost", "localhost.localdomain")
    if not allowed:
        raise socket.gaierror(socket.EAI_NONAME, f"tests may not reach {name}: loopback only")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only


@pytest.fixture(autouse=True, scope="module")
def _module_logging_restored():
    """A module's fixtures that set logging up (a Telegram world at DEBUG) leave nothing
    behind for the next module."""
    from botfleet.obs.logs import snapshot_logging

    restore = snapshot_logging()
    yield
    restore()


@pytest.fixture(autouse=True)
def _logging_restored():
    """Every test that installs botfleet's logging (directly or through a CLI command) gets the
    process's logging back as it was: no JSON handler on stderr, no root level or quieted
    library levels left to the tests after it."""
    from botfleet.obs.logs import snapshot_logging

    restore = snapshot_logging()
    yield
    restore()


@pytest.fixture
def write(tmp_path: Path):
    """write("bots.d/a.yaml", text) -> path; dedents text, creates folders."""

    def _write(rel: str, text: str | bytes) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


MINIMAL_FLEET = """
kind: fleet
version: 1
name: t
capital: {currency: USDT, total: 1000}
defaults: {exchange: binance, timeframe: 1h}
exchanges:
  - {name: binance, ccxt_id: binance}
strategies:
  - name: s
    parameters: {n: {default: 10, range: [2, 50]}}
    entry: close > open
    exit: close < open
bots: [bots.d/*.yaml]
"""


@pytest.fixture
def fleet(write, tmp_path: Path):
    """A minimal valid fleet in tmp_path with one bot file; returns a loader callable."""
    write("fleet.yaml", MINIMAL_FLEET)
    write("bots.d/a.yaml", """
        kind: bot
        version: 1
        name: a
        pairs: [BTC/USDT]
        strategy: s
        """)

    def load():
        from botfleet.config import load_fleet

        return load_fleet(tmp_path / "fleet.yaml", display_root=tmp_path)

    return load


@pytest.fixture(scope="module")
def candles():
    """A year of real BTC/USDT hourly candles (venue_fixtures.SYM)."""
    from shared_data import load

    return load("binance_BTC-USDT_1h.csv")


@pytest.fixture
def venue(candles):
    """The exchange simulator on `candles`, its clock at venue_fixtures.T0 (modules may define
    their own `venue`, which then wins)."""
    from botfleet.venue import BinanceServer, Clock, MarketData

    from venue_fixtures import FILLS, SYM, T0

    market = MarketData.from_arrays({SYM: {"1h": candles}}, clock=Clock(T0))
    srv = BinanceServer(market, fills=FILLS, order_limit=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def server():
    """The runtime tests' simulator (test_runtime_helpers.venue: a seeded synthetic market,
    clock at its T0) for one test; a module that defines its own `server` keeps it."""
    from test_runtime_helpers import venue as synthetic_venue

    srv = synthetic_venue()
    yield srv
    srv.stop()
