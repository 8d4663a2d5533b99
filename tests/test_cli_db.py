"""`botfleet db upgrade | current | backup | restore` through the real command line, on a real
SQLite file and the real PostgreSQL (its backup path needs pg_dump/pg_restore on PATH and skips,
saying so, without them)."""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.execution.ledger import Ledger
from botfleet.execution.records import Balance
from botfleet.orders import OrderStatus, OrderType, Side
from botfleet.storage import ResultStore, head_revision, state_engine
from botfleet.storage.models import Base

from storage_fixtures import BACKENDS, make_result, state_url  # noqa: F401

CANDLE = 1_700_000_000_000
NO_PG_TOOLS = None if shutil.which("pg_dump") and shutil.which("pg_restore") else (
    "pg_dump/pg_restore are not on PATH (PostgreSQL client tools)")


def _db(*args: str):
    return CliRunner().invoke(app, ["db", *map(str, args)])


@pytest.fixture(params=BACKENDS)
def url(request, state_url):  # noqa: F811
    if request.param == "postgresql" and NO_PG_TOOLS:
        pytest.skip(NO_PG_TOOLS)
    return state_url(request.param)


def _rows(url: str) -> dict[str, list[str]]:
    """Every row of every botfleet table, in primary-key order, as its repr (so that a NaN in a
    stored metric compares equal to itself)."""
    engine = state_engine(url)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            return {t.name: [repr(tuple(r)) for r in conn.execute(
                sa.select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables if t.name in present}
    finally:
        engine.dispose()


def _trade(led: Ledger, key: str, amount=D("0.5"), price=D("42000.123456789")):
    cycle = led.begin_cycle("bot-a", candle_ms=CANDLE)
    rec = led.record_intent(cycle, key, symbol="BTC/USDT", side=Side.BUY, type=OrderType.LIMIT,
                            amount=amount, price=price)
    led.mark_submitted(rec.client_id)
    led.mark_acknowledged(rec.client_id, f"x-{key}")
    led.record_fill(rec.client_id, f"t-{key}", amount, price, CANDLE, fee=D("0.0005"),
                    fee_currency="BTC")
    led.end_cycle(cycle)
    return rec


def test_upgrade_and_current(url):
    head = head_revision()
    r = _db("current", "--state", url, "--check")
    assert r.exit_code == 1 and f"the newest is {head}: run `botfleet db upgrade`" in r.output
    assert ("no database file at" if url.startswith("sqlite") else "not migrated") in r.output
    r = _db("upgrade", "--state", url, "--revision", "0001")
    assert r.exit_code == 0 and "migrated from an empty database to 0001" in r.output
    r = _db("current", "--state", url)
    assert r.exit_code == 0 and "revision 0001; the newest is" in r.output
    r = _db("upgrade", "--state", url)
    assert r.exit_code == 0 and f"migrated from 0001 to {head}" in r.output
    r = _db("upgrade", "--state", url)
    assert r.exit_code == 0 and f"already at revision {head}" in r.output
    r = _db("current", "--state", url, "--check")
    assert r.exit_code == 0 and f"revision {head} (head)" in r.output


def test_backup_then_changes_then_restore_gives_back_every_row(url, tmp_path):
    with Ledger(url) as led:
        led.register_bot("bot-a", "binance", "paper")
        run = led.start_run("bot-a")
        kept = _trade(led, "entry")
        cash = D("1000.000000000001")
        led.snapshot_balances({"USDT": Balance(cash, D(0), cash)}, bot="bot-a")
        led.record_equity("bot-a", D("1000.5"))
        led.audit("operator", "start", "bot-a", {"why": "test"})
        with ResultStore(url) as store:
            store.save(make_result(bars=40, trades=3))
        before = _rows(url)
        assert all(before[t] for t in ("bots", "orders", "order_events", "fills", "positions",
                                       "backtest_runs"))
        path = tmp_path / "state.backup"
        r = _db("backup", path, "--state", url)
        assert r.exit_code == 0 and f"to {path}" in r.output and path.stat().st_size > 0

        led.register_bot("bot-b", "binance", "live")  # ... and the world moves on
        _trade(led, "exit", amount=D("0.25"))
        led.cancel_requested(kept.client_id)
        led.stop_run(run)
        assert _rows(url) != before

        r = _db("restore", path, "--state", url)
        assert r.exit_code == 1 and "holds data" in r.output and "--force" in r.output
        assert _rows(url) != before  # refused: nothing touched
        r = _db("restore", path, "--state", url, "--force")
        assert r.exit_code == 0 and f"from {path}" in r.output
        assert _rows(url) == before
        # the open ledger carries on against the restored data
        assert led.get(kept.client_id).status is OrderStatus.FILLED
        assert led.position("bot-a", "BTC/USDT").amount == D("0.5")
        _trade(led, "again")


def test_restore_into_an_empty_sqlite_file_needs_no_force(tmp_path):
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'new/b.db'}"
    with Ledger(source) as led:
        led.register_bot("bot-a", "binance", "paper")
        _trade(led, "entry")
    assert _db("backup", tmp_path / "a.bak", "--state", source).exit_code == 0
    r = _db("restore", tmp_path / "a.bak", "--state", target)
    assert r.exit_code == 0 and f"(revision {head_revision()})" in r.output
    assert _rows(target) == _rows(source)


def test_bad_backup_and_restore_requests_say_what_is_wrong(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert _db("upgrade", "--state", url).exit_code == 0
    (tmp_path / "taken.bak").write_text("x")
    r = _db("backup", tmp_path / "taken.bak", "--state", url)
    assert r.exit_code == 1 and "taken.bak exists" in r.output and "--force" in r.output
    assert _db("backup", tmp_path / "taken.bak", "--state", url, "--force").exit_code == 0
    r = _db("restore", tmp_path / "missing.bak", "--state", url)
    assert r.exit_code == 1 and "missing.bak: no such backup file" in r.output
    (tmp_path / "junk.bak").write_bytes(b"not a database at all" * 100)
    r = _db("restore", tmp_path / "junk.bak", "--state", url)
    assert r.exit_code == 1 and "is not a SQLite state database backup" in r.output
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.close()
    r = _db("restore", tmp_path / "other.db", "--state", url)
    assert r.exit_code == 1 and "not a botfleet state database" in r.output
    r = _db("backup", tmp_path / "m.bak", "--state", "sqlite://")
    assert r.exit_code == 1 and "in-memory" in r.output
    r = _db("backup", tmp_path / "n.bak", "--state", f"sqlite:///{tmp_path / 'nope.db'}")
    assert r.exit_code == 1 and "no state database at" in r.output
    # PostgreSQL without its client tools: said before anything connects
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    r = _db("backup", tmp_path / "p.bak", "--state", "postgresql://u:secret@127.0.0.1:1/x")
    assert r.exit_code == 1 and "pg_dump is not on PATH" in r.output
    r = _db("restore", tmp_path / "taken.bak", "--state", "postgresql://u:secret@127.0.0.1:1/x")
    assert r.exit_code == 1 and "secret" not in r.output


@pytest.mark.skipif(bool(NO_PG_TOOLS), reason=NO_PG_TOOLS or "")
def test_postgresql_failures_name_the_url_without_its_password(tmp_path, state_url):  # noqa: F811
    r = _db("backup", tmp_path / "p.bak", "--state", "postgresql://u:secret@127.0.0.1:1/x")
    assert r.exit_code == 1 and "u:***@127.0.0.1:1" in r.output and "secret" not in r.output
    (tmp_path / "plain.bak").write_text("x")
    url = state_url("postgresql")
    r = _db("restore", tmp_path / "plain.bak", "--state", url)
    assert r.exit_code == 1 and "is not a pg_dump archive of a botfleet state database" in r.output


def test_the_url_comes_from_the_fleet_else_the_default(tmp_path, monkeypatch):
    (tmp_path / "fleet.yaml").write_text(
        "kind: fleet\nversion: 1\nname: t\nstorage:\n  state: sqlite:///st/fleet-state.db\n")
    r = _db("upgrade", "--fleet", tmp_path / "fleet.yaml")
    assert r.exit_code == 0 and (tmp_path / "st" / "fleet-state.db").exists()
    bare = tmp_path / "bare"
    bare.mkdir()
    monkeypatch.chdir(bare)
    r = _db("current")
    assert r.exit_code == 0 and "sqlite:///data/state.db: no database file" in r.output
    assert _db("upgrade").exit_code == 0 and (bare / "data" / "state.db").exists()
    r = _db("current", "--fleet", tmp_path / "nope.yaml")
    assert r.exit_code == 2 and "no such fleet file" in r.output
