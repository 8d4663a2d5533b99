"""The trading-state tables: migration 0002 makes exactly the models, on a real SQLite file and
the real PostgreSQL; the database itself enforces uniqueness, foreign keys and checks; money
round-trips as Decimal (NUMERIC(38, 12) in PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from botfleet.storage import schema_diff, state_engine, upgrade
from botfleet.storage.db import alembic_config, current_revision, transaction
from botfleet.storage.models import Base
from botfleet.storage.trading import (
    BalanceSnapshot,
    Bot,
    EquityPoint,
    FillRow,
    OrderRow,
    PositionRow,
)

from storage_fixtures import BACKENDS, state_url  # noqa: F401

TRADING = {"bots", "bot_runs", "cycles", "orders", "order_events", "fills", "positions",
           "balance_snapshots", "equity_points", "audit_log"}
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def url(request, state_url):  # noqa: F811
    return state_url(request.param)


@pytest.fixture
def engine(url):
    upgrade(url)
    eng = state_engine(url)
    yield eng
    eng.dispose()


def _ours(diff) -> list:
    """The entries of an autogenerate diff that concern the trading tables (other revisions'
    tables are checked by their own tests)."""
    out = []
    for entry in diff:
        for item in entry if isinstance(entry, list) else [entry]:
            obj = item[1] if len(item) > 1 else None
            table = getattr(obj, "table", obj)
            name = getattr(table, "name", None) or (item[2] if len(item) > 2 else None)
            if name in TRADING:
                out.append(item)
    return out


def _migrate(url: str, revision: str, down: bool = False) -> None:
    engine = state_engine(url)
    try:
        with transaction(engine, write=True) as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)
    finally:
        engine.dispose()


def test_the_migration_makes_exactly_the_models(url):
    upgrade(url)
    engine = state_engine(url)
    try:
        assert TRADING <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert TRADING <= set(Base.metadata.tables)
    assert _ours(schema_diff(url)) == []


def test_the_check_sees_a_missing_index_or_unique_constraint(engine, url):
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_orders_bot_id_status"))
    diff = _ours(schema_diff(url))
    assert [(d[0], d[1].name) for d in diff] == [("add_index", "ix_orders_bot_id_status")]


def test_0002_downgrades_to_0001_and_upgrades_again(url):
    _migrate(url, "0002")
    assert current_revision(url) == "0002"
    _migrate(url, "0001", down=True)
    engine = state_engine(url)
    try:
        left = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not left & TRADING and "backtest_runs" in left and current_revision(url) == "0001"
    upgrade(url)
    assert _ours(schema_diff(url)) == []


def _bot(conn, name="b") -> int:
    return conn.execute(sa.insert(Bot).values(name=name, exchange="binance", mode="paper",
                                              created_at=NOW, updated_at=NOW)
                        .returning(Bot.id)).scalar_one()


def _order(conn, bot_id: int, client_id: str, **money) -> int:
    values = {"amount": D(1), "filled": D(0), "fee": D(0), **money}
    return conn.execute(sa.insert(OrderRow).values(
        client_order_id=client_id, bot_id=bot_id, cycle_key="k", intent_key="i", symbol="BTC/USDT",
        side="buy", type="limit", reduce_only=False, reason="signal", status="new",
        created_at=NOW, updated_at=NOW, **values).returning(OrderRow.id)).scalar_one()


def _fill(conn, order_id: int, bot_id: int, trade_id: str, **money) -> None:
    values = {"amount": D(1), "price": D(1), "fee": D(0), **money}
    conn.execute(sa.insert(FillRow).values(
        order_id=order_id, bot_id=bot_id, trade_id=trade_id, symbol="BTC/USDT", side="buy",
        liquidity="taker", ts_ms=1, recorded_at=NOW, **values))


def test_the_database_enforces_uniqueness_references_and_checks(engine):
    with engine.begin() as conn:
        bot_id = _bot(conn)
        order_id = _order(conn, bot_id, "bfone")
        _fill(conn, order_id, bot_id, "t1")
    refused = [
        lambda c: _order(c, bot_id, "bfone"),  # client order id UNIQUE
        lambda c: _fill(c, order_id, bot_id, "t1"),  # a fill once per (order, trade id)
        lambda c: _bot(c, "b"),  # bot names UNIQUE
        lambda c: c.execute(sa.delete(Bot).where(Bot.id == bot_id)),  # no cascade: refused
        lambda c: _order(c, 999, "bftwo"),  # no such bot
        lambda c: c.execute(sa.insert(Bot).values(name="x", exchange="e", mode="demo",
                                                  created_at=NOW, updated_at=NOW)),
        lambda c: c.execute(sa.insert(BalanceSnapshot).values(
            asset="USDT", free=D(1), used=D(0), total=D(1), ts=NOW)),  # neither bot nor account
    ]
    for attempt in refused:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            attempt(conn)
    with engine.begin() as conn:  # the same trade id on another order is another fill
        _fill(conn, _order(conn, bot_id, "bftwo"), bot_id, "t1")


SQLITE_VALUES = [D("12345.6789012345"), D("0.000000000001"), D("99999999.1234567"),
                 D("-3.141592653589"), D(123456789012345)]
PG_VALUES = SQLITE_VALUES + [D("12345678901234567890123456.123456789012"),
                             D("0.123456789012"), D("-99999999999999.999999999999")]


def test_money_round_trips_as_decimal(engine):
    """15 significant digits on SQLite (it stores a double, read back by its shortest repr);
    the full NUMERIC(38, 12) on PostgreSQL."""
    values = PG_VALUES if engine.dialect.name == "postgresql" else SQLITE_VALUES
    with engine.begin() as conn:
        bot_id = _bot(conn)
        for i, v in enumerate(values):
            order_id = _order(conn, bot_id, f"bf{i}", amount=v.copy_abs(), price=v.copy_abs(),
                              stop_price=v.copy_abs(), average_price=v.copy_abs(), fee=v)
            _fill(conn, order_id, bot_id, f"t{i}", amount=v.copy_abs(), price=v.copy_abs(), fee=v)
            conn.execute(sa.insert(PositionRow).values(
                bot_id=bot_id, symbol=f"S{i}/USDT", amount=v, entry_price=v.copy_abs(),
                realized_pnl=v, updated_at=NOW))
            conn.execute(sa.insert(BalanceSnapshot).values(
                bot_id=bot_id, asset=f"A{i}", free=v, used=v, total=v, ts=NOW))
            conn.execute(sa.insert(EquityPoint).values(
                bot_id=bot_id, ts=datetime(2024, 1, 1 + i, tzinfo=UTC), equity=v))
    with engine.connect() as conn:
        orders = conn.execute(sa.select(OrderRow).order_by(OrderRow.id)).all()
        fills = conn.execute(sa.select(FillRow).order_by(FillRow.id)).all()
        positions = conn.execute(sa.select(PositionRow).order_by(PositionRow.symbol)).all()
        balances = conn.execute(sa.select(BalanceSnapshot).order_by(BalanceSnapshot.id)).all()
        equity = conn.execute(sa.select(EquityPoint).order_by(EquityPoint.ts)).all()
        got = {
            "orders": [(o.amount, o.price, o.stop_price, o.average_price, o.fee) for o in orders],
            "fills": [(f.amount, f.price, f.fee) for f in fills],
            "positions": [(p.amount, p.entry_price, p.realized_pnl) for p in positions],
            "balances": [(b.free, b.used, b.total) for b in balances],
            "equity": [e.equity for e in equity],
        }
    expected = {
        "orders": [(v.copy_abs(), v.copy_abs(), v.copy_abs(), v.copy_abs(), v) for v in values],
        "fills": [(v.copy_abs(), v.copy_abs(), v) for v in values],
        "positions": [(v, v.copy_abs(), v) for v in values],  # S0/USDT, S1/USDT, ... in order
        "balances": [(v, v, v) for v in values],
        "equity": values,
    }
    wrong = [(table, i, g, e) for table in expected
             for i, (g, e) in enumerate(zip(got[table], expected[table], strict=True)) if g != e]
    assert wrong == []
    for row in got.values():
        for item in row:
            for x in item if isinstance(item, tuple) else (item,):
                assert isinstance(x, D)


def test_money_columns_are_numeric_38_12_in_postgresql(state_url):  # noqa: F811
    url = state_url("postgresql")
    upgrade(url)
    engine = state_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT table_name, column_name, numeric_precision, numeric_scale "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND data_type = 'numeric'")).all()
    finally:
        engine.dispose()
    found = {(t, c) for t, c, p, s in rows if t in TRADING and (p, s) == (38, 12)}
    expected = {(t.name, c.name) for t in Base.metadata.sorted_tables if t.name in TRADING
                for c in t.columns if isinstance(c.type, sa.types.TypeDecorator)
                and c.type.impl.__class__ is sa.Numeric}
    assert expected and found == expected
    assert {("orders", "amount"), ("fills", "price"), ("positions", "realized_pnl")} <= found
