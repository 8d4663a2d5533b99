"""A fleet with real state for the control-panel tests (no tests here).

`ui_fleet` is the example fleet plus one bot that trades often, replayed for a day of recorded
Binance candles through the paper path on the bundled simulator (`botfleet paper --replay`):
its state database holds what the runtime really wrote (bots, runs, cycles, orders with their
events, fills, positions, equity points). That database becomes the fleet's own, and the
recorded candles are loaded into the fleet's candle store, so every page reads real data.
Built once per test session (about 15 s), then copied for each test that writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared_data import SHARED, shared_file

ROOT = Path(__file__).resolve().parents[1]
UI_APP = ROOT / "ui" / "app.py"
OPERATOR_PASSWORD, VIEWER_PASSWORD = "op-secret-pw", "view-only-pw"
CHURN_STRATEGY = """\
kind: strategy
version: 1
name: churn
description: Enters on every up bar, leaves on every down bar (a test fixture that trades).
entry: close > open
exit: close < open
stops: {stop_loss: 3%}
sizing: {method: fixed_quote, value: 200}
"""
CHURN_BOT = """\
# A bot that trades a lot, so the panel has orders and fills to show.
kind: bot
version: 1
name: eth-churn
pairs: [ETH/USDT]
strategy: churn
capital: {allocation: 1000}
"""


def copy_fleet(dest: Path) -> Path:
    for item in sorted(ROOT.glob("*.d")):  # every folder the example fleet lists
        shutil.copytree(item, dest / item.name)
    shutil.copyfile(ROOT / "fleet.yaml", dest / "fleet.yaml")
    (dest / "strategies.d" / "churn.yaml").write_text(CHURN_STRATEGY)
    (dest / "bots.d" / "eth-churn.yaml").write_text(CHURN_BOT)
    return dest / "fleet.yaml"


def _replay(folder: Path) -> None:
    env = {**os.environ, "BOTFLEET_DATA_DIR": str(SHARED)}
    got = subprocess.run(
        [sys.executable, "-m", "botfleet.cli", "paper", "--fleet", str(folder), "--replay",
         "--days", "1", "--speed", "14400", "--data", str(SHARED), "--reload-every", "0"],
        capture_output=True, text=True, timeout=240, env=env, cwd=folder, check=False)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    # SQLite's backup, not a file copy: the replay's database is in WAL mode, and its rows
    # may still be in state.db-wal when the process has ended
    import sqlite3

    src = sqlite3.connect(folder / "data" / "replay" / "state.db")
    dest = sqlite3.connect(folder / "data" / "state.db")
    try:
        src.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")  # one file: tests copy the folder
    finally:
        src.close()
        dest.close()


def _candles(fleet_file: Path) -> None:
    from botfleet.config import load_fleet
    from botfleet.data.prepare import prepare
    from botfleet.data.store import open_store

    load = load_fleet(fleet_file)
    assert load.ok, load.errors
    with open_store(load.fleet.storage.candles) as store:
        report = prepare(load.fleet, store, data_dir=SHARED, download=False)
    assert not report.missing, report.missing


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def ui_fleet_template(tmp_path_factory) -> Path:
    """The replayed fleet folder, built once per session; tests get copies (`ui_fleet`).
    Each test module importing this fixture gets its own session-scoped copy of it (pytest's
    rule), so the folder itself is kept here, in the module, and built by the first."""
    if "folder" in _BUILT:
        return _BUILT["folder"]
    shared_file("binance_ETH-USDT_1h.csv")
    folder = tmp_path_factory.mktemp("ui-fleet")
    fleet_file = copy_fleet(folder)
    from botfleet.config.edit import set_values

    # the runtime's JSON log lines, for the bot page's logs
    fleet_file.write_text(set_values(fleet_file.read_text(), {
        ("logging",): {"file": "data/botfleet.log", "level": "info"}}))
    _replay(folder)
    _candles(fleet_file)
    _BUILT["folder"] = folder
    return folder


@pytest.fixture
def ui_fleet(ui_fleet_template, tmp_path) -> Path:
    """A fresh copy of the replayed fleet (its state and candles too): tests may write."""
    folder = tmp_path / "fleet"
    shutil.copytree(ui_fleet_template, folder, ignore=shutil.ignore_patterns("replay"))
    return folder / "fleet.yaml"


@pytest.fixture
def ui_env(monkeypatch):
    """Point the panel at a fleet and set both role passwords (hashes only in the env)."""
    from botfleet.access import hash_password

    op, view = hash_password(OPERATOR_PASSWORD), hash_password(VIEWER_PASSWORD,
                                                                method="pbkdf2_sha256")

    def use(fleet_file: Path, *, no_auth: bool = False) -> None:
        monkeypatch.setenv("BOTFLEET_UI_FLEET", str(fleet_file))
        monkeypatch.setenv("BOTFLEET_UI_PASSWORD_HASH", op)
        monkeypatch.setenv("BOTFLEET_UI_VIEWER_HASH", view)
        if no_auth:
            monkeypatch.setenv("BOTFLEET_UI_NO_AUTH", "1")
        else:
            monkeypatch.delenv("BOTFLEET_UI_NO_AUTH", raising=False)
    return use


def app_test(role: str | None = "operator"):
    """An AppTest of the panel, logged in as `role` (None: not logged in)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(UI_APP), default_timeout=60)
    if role:
        at.session_state["role"] = role
        at.session_state["user"] = f"test-{role}"
    return at


def open_page(at, page: str):
    """Run the app, then switch to `views/<page>.py` and run it."""
    at.run()
    at.switch_page(f"views/{page}.py")
    return at.run()


def copy_state_to(src_sqlite: str, dest_url: str) -> None:
    """Every row of a replayed SQLite state database into another (migrated) one."""
    import sqlalchemy as sa

    from botfleet.storage import control_models, risk_models, trading  # noqa: F401 - tables
    from botfleet.storage.audit import shared_engine
    from botfleet.storage.db import state_engine
    from botfleet.storage.models import Base

    dest = shared_engine(dest_url)  # migrated to head
    src = state_engine(src_sqlite)
    with src.connect() as s, dest.begin() as d:
        for table in Base.metadata.sorted_tables:
            if not sa.inspect(s).has_table(table.name):
                continue
            rows = [dict(r._mapping) for r in s.execute(sa.select(table))]
            if rows:
                d.execute(table.insert(), rows)
            if rows and "id" in table.c and dest.dialect.name == "postgresql":
                # rows came with their ids: move the id sequence past them
                d.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT MAX(id) FROM {table.name}))"))
    src.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def hundred_bot_fleet(folder: Path, bots: int = 100, points: int = 48) -> Path:
    """A fleet of `bots` paper bots with a day or two of history each (runs, cycles, equity),
    written through the ledger's own bookkeeping API: the overview's size test."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from botfleet.execution.ledger import Ledger

    fleet_file = copy_fleet(folder)
    shutil.rmtree(folder / "bots.d")
    (folder / "bots.d").mkdir()
    pairs = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    for i in range(bots):
        (folder / "bots.d" / f"bot-{i:03d}.yaml").write_text(
            f"kind: bot\nversion: 1\nname: bot-{i:03d}\npairs: [{pairs[i % 3]}]\n"
            f"strategy: {('sma_cross', 'rsi_reversion', 'donchian_breakout')[i % 3]}\n"
            "capital: {allocation: 100}\n")
    (folder / "data").mkdir(exist_ok=True)
    now = [datetime.now(UTC) - timedelta(hours=points)]
    ledger = Ledger(f"sqlite:///{folder / 'data' / 'state.db'}", clock=lambda: now[0])
    start = now[0]
    for i in range(bots):
        name = f"bot-{i:03d}"
        ledger.register_bot(name, "binance", "paper")
        run = ledger.start_run(name)
        for h in range(points):
            ts = start + timedelta(hours=h)
            now[0] = ts
            cycle = ledger.begin_cycle(name, candle_ms=int(ts.timestamp() * 1000))
            now[0] = ts + timedelta(milliseconds=40 + i)
            ledger.end_cycle(cycle, "ok")
            ledger.record_equity(name, Decimal(100) + Decimal(i - 50 + h) / 10, ts)
        if i % 10:
            ledger.stop_run(run, "test")
    ledger.close()
    return fleet_file


@pytest.fixture
def pg_fleet(ui_fleet):
    """`ui_fleet` with its state (every replayed row) moved to a PostgreSQL schema of its own,
    dropped afterwards; skips, saying why, without PostgreSQL."""
    import psycopg

    from stores import PG_URL, pg_available, pg_schema_url

    reason = pg_available()
    if reason:
        pytest.skip(reason)
    schema = unique("t_ui_")
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = pg_schema_url(schema)
    try:
        copy_state_to(f"sqlite:///{ui_fleet.parent / 'data' / 'state.db'}", url)
        (ui_fleet.parent / "data" / "state.db").unlink()  # nothing can read the old one
        ui_fleet.write_text(ui_fleet.read_text().replace("state: sqlite:///data/state.db",
                                                         f"state: {url}"))
        yield ui_fleet, url
    finally:
        from botfleet.storage.audit import dispose_engines

        dispose_engines()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
