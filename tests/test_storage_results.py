"""The state database's backtest results, on a real SQLite file and the real PostgreSQL.

Every behaviour runs on both backends (PostgreSQL tests skip, saying why, when the server is
down): migrations, the exact round trip, the JSON conventions, listing, comparing, deleting,
concurrent writers in separate processes, Optuna's studies next to our tables, and bad URLs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time
import traceback
from decimal import Decimal
from pathlib import Path

import numpy as np
import optuna
import pytest
import sqlalchemy as sa
from alembic import command

from botfleet.sim.metrics import drawdown
from botfleet.sim.records import TRADE_DTYPE, _dec, trades_to_objects
from botfleet.storage import (
    KINDS,
    ResultStore,
    RunNotFound,
    StateDatabaseError,
    current_revision,
    head_revision,
    optuna_storage_url,
    schema_diff,
    state_engine,
    upgrade,
)
from botfleet.storage.columns import from_json, to_json
from botfleet.storage.db import alembic_config, transaction

from storage_fixtures import BACKENDS, FIVE_YEARS_HOURLY, make_result, state_url  # noqa: F401

TESTS = Path(__file__).resolve().parent
TABLES = {"backtest_runs", "backtest_trades", "backtest_equity", "backtest_arrays",
          "botfleet_alembic_version"}
MONEY = ("amount", "entry_price", "exit_price", "pnl", "fees", "slippage")


def _tables(url: str) -> set[str]:
    engine = state_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _scalar(url: str, sql: str, **params):
    engine = state_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: dtype, shape and bytes (NaN payloads included)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_json(a, b) -> bool:
    """Equal, with NaN equal to NaN and the exact type of every number (1 is not 1.0)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_json(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same_json, a, b))
    return type(a) is type(b) and a == b


def _plain(value):
    """What a JSON document holds after storing `value` (numpy scalars as Python numbers)."""
    return from_json(json.loads(json.dumps(to_json(value))))


@pytest.fixture(params=BACKENDS)
def url(request, state_url):  # noqa: F811
    return state_url(request.param)


@pytest.fixture
def store(url):
    with ResultStore(url) as s:
        yield s


# -- migrations ---------------------------------------------------------------------------------
def test_migrations_reach_head_on_an_empty_database_and_a_rerun_changes_nothing(url):
    assert current_revision(url) is None
    assert not _tables(url) & TABLES
    head = head_revision()
    assert head is not None and upgrade(url) == head
    assert TABLES <= _tables(url)
    before = _tables(url)
    assert upgrade(url) == head
    assert _tables(url) == before
    assert _scalar(url, "SELECT count(*) FROM botfleet_alembic_version") == 1
    # Alembic's default version table is left to Optuna
    assert "alembic_version" not in _tables(url)


def test_the_migration_downgrades_to_an_empty_database_and_upgrades_again(url):
    with ResultStore(url) as store:
        store.save(make_result(bars=10, trades=1))
    engine = state_engine(url)
    with transaction(engine, write=True) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    engine.dispose()
    assert _tables(url) == {"botfleet_alembic_version"} and current_revision(url) is None
    assert upgrade(url) == head_revision() and schema_diff(url) == []


def test_models_and_migrations_agree_and_the_check_can_fail(url):
    upgrade(url)
    assert schema_diff(url) == []
    engine = state_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_backtest_runs_tag"))
    engine.dispose()
    diff = schema_diff(url)
    assert [(d[0], d[1].name) for d in diff] == [("add_index", "ix_backtest_runs_tag")]


# -- round trip ---------------------------------------------------------------------------------
def test_save_then_get_round_trips_the_result(store):
    result = make_result(bars=2_000, trades=50)
    got = store.get(store.save(result))

    for name in ("ts", "close", "equity", "cash", "exposure", "fills", "rejects"):
        assert _same_array(getattr(got, name), getattr(result, name)), name
    assert got.series.keys() == result.series.keys()
    for name in result.series:
        assert _same_array(got.series[name], result.series[name]), name
    for name in ("name", "strategy", "timeframe", "symbols", "coverage"):
        assert getattr(got, name) == getattr(result, name), name
    assert got.capital == Decimal(10000) and isinstance(got.capital, Decimal)
    for name in ("params", "fill_model", "metrics", "meta"):
        assert _same_json(getattr(got, name), _plain(getattr(result, name))), name

    # trades: same layout; money is the float of the stored Decimal (records._dec, 12 places),
    # everything else exact
    assert got.trades.dtype == TRADE_DTYPE
    for field in TRADE_DTYPE.names:
        want = result.trades[field]
        if field in MONEY:
            want = np.array([float(_dec(x)) for x in want])
        assert _same_array(got.trades[field], want.astype(got.trades[field].dtype)) or (
            field == "ret" and np.array_equal(got.trades[field], want, equal_nan=True)), field
    assert trades_to_objects(got.trades, got.ts, got.symbols) == trades_to_objects(
        result.trades, result.ts, result.symbols)
    # a second round trip changes nothing at all
    again = store.get(store.save(got))
    assert all(_same_array(getattr(again, n), getattr(got, n)) for n in ("trades", "equity"))


def test_trade_money_is_stored_as_exact_decimals(store, url):
    result = make_result(bars=300, trades=10, seed=3)
    run_id = store.save(result)
    engine = state_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, symbol, pnl, fees, entry_reason, exit_reason "
                                    "FROM backtest_trades WHERE run_id = :r ORDER BY seq"),
                            {"r": run_id}).all()
    engine.dispose()
    assert len(rows) == 10
    objects = trades_to_objects(result.trades, result.ts, result.symbols)
    got = store.get(run_id)
    for row, obj in zip(rows, objects, strict=True):
        assert row.symbol == obj.symbol
        assert (row.entry_reason, row.exit_reason) == (obj.entry_reason.label,
                                                      obj.exit_reason.label)
        # the database holds the Decimal `_dec` made, to the last of its 12 places (read raw:
        # a double on SQLite, NUMERIC on PostgreSQL)
        assert Decimal(str(row.pnl)) == obj.pnl and Decimal(str(row.fees)) == obj.fees
    assert [Decimal(repr(float(x))) for x in got.trades["pnl"]] == [o.pnl for o in objects]


def test_a_five_year_hourly_result_with_1000_trades_saves_in_well_under_a_second(store, url):
    result = make_result(bars=FIVE_YEARS_HOURLY, trades=1_000, seed=7)
    store.save(result)  # warm-up: first statements compile
    t0 = time.perf_counter()
    run_id = store.save(result)
    saved = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = store.get(run_id)
    loaded = time.perf_counter() - t0
    print(f"\n{url.split(':')[0]}: save {saved * 1000:.0f} ms, get {loaded * 1000:.0f} ms "
          f"({FIVE_YEARS_HOURLY} bars, 1000 trades)")
    assert _same_array(got.equity, result.equity) and len(got.trades) == 1_000
    assert _scalar(url, "SELECT count(*) FROM backtest_equity WHERE run_id = :r", r=run_id) == 1
    limit = 0.5 if url.startswith("sqlite") else 1.0
    assert saved < limit and loaded < limit


def test_a_result_without_trades_or_bars_round_trips(store):
    empty = make_result(bars=0, trades=0, metrics={})
    got = store.get(store.save(empty))
    assert len(got.ts) == len(got.trades) == len(got.fills) == 0
    assert got.trades.dtype == TRADE_DTYPE and got.close.shape == (0, 2)
    summary = store.list_runs()[0]
    assert summary.final_equity == Decimal(10000) and summary.max_drawdown is None
    assert summary.total_return == 0.0


# -- JSON conventions ---------------------------------------------------------------------------
def test_json_columns_take_numpy_decimal_and_non_finite_values(store, url):
    metrics = {"nan": float("nan"), "inf": np.float64("inf"), "-inf": -math.inf,
               "i": np.int64(7), "f32": np.float32(0.25), "b": np.bool_(True),
               "d": Decimal("0.10"), "dn": Decimal("NaN"), "huge": 1e300, "int": 2**70,
               "nested": {"arr": np.arange(3), "t": (1, 2.0)}, "none": None, "neg0": -0.0}
    run_id = store.save(make_result(bars=10, trades=1, metrics=metrics))
    got = store.get(run_id).metrics
    assert math.isnan(got["nan"]) and got["inf"] == math.inf and got["-inf"] == -math.inf
    assert got["i"] == 7 and type(got["i"]) is int
    assert got["f32"] == 0.25 and type(got["f32"]) is float and got["b"] is True
    assert got["d"] == Decimal("0.10") and str(got["d"]) == "0.10"
    assert got["dn"].is_nan()
    assert got["huge"] == 1e300 and type(got["huge"]) is float and got["int"] == 2**70
    assert got["nested"] == {"arr": [0, 1, 2], "t": [1, 2.0]} and got["none"] is None
    assert math.copysign(1, got["neg0"]) == -1
    # the convention as stored: standard JSON, one-key objects for what JSON lacks
    raw = json.loads(_scalar(url, "SELECT CAST(metrics AS TEXT) FROM backtest_runs "
                                  "WHERE id = :r", r=run_id))
    assert raw["nan"] == {"$float": "nan"} and raw["-inf"] == {"$float": "-inf"}
    assert raw["d"] == {"$decimal": "0.10"}


@pytest.mark.parametrize(("value", "message"), [
    ({"x": object()}, r"\$\.x: a object cannot be stored"),
    ({"a": [1, {2: 3}]}, r"\$\.a\[1\]: key 2 cannot be stored"),
    ({"$float": "inf"}, r"key '\$float' cannot be stored"),
])
def test_json_refuses_what_it_cannot_round_trip(value, message):
    with pytest.raises(TypeError, match=message):
        to_json(value)


# -- listing, comparing, deleting ---------------------------------------------------------------
def test_list_runs_filters_newest_first_with_key_metrics(store):
    a = store.save(make_result(bars=100, trades=3, name="a", strategy="s1"))
    study = store.save(make_result(bars=100, trades=3, name="opt", strategy="s2"),
                       kind="optimize", tag="first try")
    trials = [store.save(make_result(bars=100, trades=2, seed=i, name="opt", strategy="s2"),
                         kind="optimize_trial", parent_id=study) for i in range(3)]
    assert [r.id for r in store.list_runs()] == [*reversed(trials), study, a]
    assert [r.id for r in store.list_runs(kind="optimize_trial", limit=2)] == trials[:0:-1]
    assert [r.id for r in store.list_runs(parent_id=study)] == trials[::-1]
    assert [r.id for r in store.list_runs(name="a")] == [a]
    assert [r.id for r in store.list_runs(strategy="s2", kind="optimize")] == [study]
    assert [r.id for r in store.list_runs(tag="first try")] == [study]
    assert store.count() == 5 and store.count("optimize_trial") == 3

    s = store.list_runs(name="a")[0]
    result = make_result(bars=100, trades=3)
    assert (s.kind, s.strategy, s.timeframe, s.symbols) == ("backtest", "s1", "1h",
                                                            ["BTC/USDT", "ETH/USDT"])
    assert (s.start_ms, s.end_ms, s.bars, s.trades) == (result.start_ms, result.end_ms, 100, 3)
    assert s.created_at.tzinfo is not None and s.parent_id is None
    assert s.final_equity == _dec(result.equity[-1])
    assert s.total_return == pytest.approx(result.equity[-1] / 10_000 - 1, rel=1e-12)
    # the capital is the first peak (sim.metrics' convention)
    peak = np.maximum(np.maximum.accumulate(result.equity), 10_000)
    assert s.max_drawdown == pytest.approx((result.equity / peak - 1).min(), rel=1e-12)
    assert s.metrics["profit_factor"] == math.inf and s.params["fast"] == 10

    store.set_tag(a, "keeper")
    assert [r.id for r in store.list_runs(tag="keeper")] == [a]
    curve = store.equity(a)
    assert _same_array(curve.ts, result.ts) and _same_array(curve.equity, result.equity)
    assert _same_array(curve.drawdown, drawdown(result.equity, initial=10_000)[0])
    assert curve.drawdown.min() == s.max_drawdown


def test_the_list_columns_take_the_results_own_metrics_when_it_has_them(store):
    """A trial saved without its curve or trades (sim.optimize stores them so) still lists the
    drawdown, return and trade count its metrics report."""
    trial = make_result(bars=2, trades=0, metrics={"total_return": 0.12, "max_drawdown": -0.3,
                                                   "n_trades": np.int64(42), "sharpe": 1.1})
    fallback = make_result(bars=2, trades=0, metrics={"max_drawdown": "-inf", "n_trades": True})
    store.save(trial, kind="optimize_trial")
    store.save(fallback, kind="optimize_trial")
    got = {s.metrics.get("sharpe"): s for s in store.list_runs()}
    assert (got[1.1].total_return, got[1.1].max_drawdown, got[1.1].trades) == (0.12, -0.3, 42)
    # not a finite number: computed from the arrays instead
    assert got[None].max_drawdown == drawdown(fallback.equity, initial=10_000)[1]
    assert got[None].trades == 0


def test_compare_gives_one_row_per_run_with_the_same_columns(store):
    one = store.save(make_result(bars=50, trades=2, metrics={"sharpe": 1.5, "trades": 2}))
    two = store.save(make_result(bars=50, trades=2, metrics={"sharpe": float("nan"),
                                                             "cagr": 0.1}))
    rows = store.compare([two, one, two])
    assert [r["id"] for r in rows] == [two, one]
    assert rows[0].keys() == rows[1].keys()
    assert math.isnan(rows[0]["sharpe"]) and rows[1]["sharpe"] == 1.5
    assert rows[0]["cagr"] == 0.1 and rows[1]["cagr"] is None
    # a metric named like a summary column does not overwrite it
    assert rows[1]["trades"] == 2 and rows[1]["metric.trades"] == 2
    assert rows[0]["metric.trades"] is None
    assert rows[0]["param.fast"] == 10 and rows[0]["param.stop"] == Decimal("0.025")
    with pytest.raises(RunNotFound, match=r"no runs \[999999\]"):
        store.compare([one, 999_999])


def test_delete_cascades_to_trades_curves_arrays_and_trials(store, url):
    study = store.save(make_result(bars=100, trades=5), kind="walkforward")
    windows = [store.save(make_result(bars=100, trades=5, seed=i), kind="walkforward_window",
                          parent_id=study) for i in range(2)]
    keep = store.save(make_result(bars=100, trades=5))
    counts = {t: _scalar(url, f"SELECT count(*) FROM {t}") for t in
              ("backtest_trades", "backtest_equity", "backtest_arrays")}
    assert counts["backtest_trades"] == 20 and counts["backtest_equity"] == 4

    assert store.delete(study) is True
    assert store.delete(study) is False
    for run_id in (study, *windows):
        with pytest.raises(RunNotFound):
            store.get(run_id)
    assert [r.id for r in store.list_runs()] == [keep]
    for table, before in counts.items():
        left = _scalar(url, f"SELECT count(*) FROM {table}")
        assert left == before // 4, table
        assert _scalar(url, f"SELECT count(*) FROM {table} WHERE run_id <> :k", k=keep) == 0


def test_save_refuses_bad_input(store):
    result = make_result(bars=20, trades=1)
    with pytest.raises(ValueError, match="unknown run kind 'optimise_trial'"):
        store.save(result, kind="optimise_trial")
    with pytest.raises(RunNotFound, match="parent run 424242 does not exist"):
        store.save(result, kind="optimize_trial", parent_id=424242)
    bad = make_result(bars=20, trades=1)
    bad.cash = bad.cash[:-1]
    with pytest.raises(ValueError, match="cash has 19 points, ts has 20"):
        store.save(bad)
    bad = make_result(bars=20, trades=1)
    bad.trades["pnl"][0] = np.nan
    with pytest.raises(ValueError, match="trade 0: pnl is nan"):
        store.save(bad)
    assert store.count() == 0  # nothing half-written
    with pytest.raises(RunNotFound):
        store.get(1)
    assert set(KINDS) >= {"backtest", "optimize_trial", "walkforward_window"}


# -- concurrency --------------------------------------------------------------------------------
WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from botfleet.storage import ResultStore
    from storage_fixtures import make_result
    url, who, gate = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    results = [make_result(bars=200, trades=5, seed=i, name=f"{who}-{i}") for i in range(8)]
    Path(f"{gate}.{who}").touch()
    while not gate.exists():
        time.sleep(0.005)
    with ResultStore(url) as store:  # both migrate the empty database at the same moment
        print(json.dumps([store.save(r) for r in results]))
""")


def test_concurrent_saves_from_two_processes_do_not_collide(url, tmp_path):
    gate = tmp_path / "go"
    procs = {who: subprocess.Popen([sys.executable, "-c", WORKER, url, who, str(gate)],
                                   cwd=TESTS, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for who in ("p1", "p2")}
    deadline = time.monotonic() + 60
    while not all(Path(f"{gate}.{who}").exists() for who in procs):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs.values()), [
            p.stderr.read() for p in procs.values()]
        time.sleep(0.01)
    gate.touch()
    ids = {}
    for who, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids[who] = json.loads(out)
    assert len(set(ids["p1"]) | set(ids["p2"])) == 16
    with ResultStore(url) as store:
        assert store.count() == 16
        for who, run_ids in ids.items():
            for i, run_id in enumerate(run_ids):
                got = store.get(run_id)
                assert got.name == f"{who}-{i}" and len(got.trades) == 5
    assert current_revision(url) == head_revision()


# -- Optuna in the same database ----------------------------------------------------------------
def test_optuna_studies_live_in_the_state_database_and_resume_by_name(url):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    upgrade(url)
    storage = optuna_storage_url(url)
    study = optuna.create_study(study_name="sma-grid", storage=storage, direction="maximize")
    trial = study.ask()
    fast = trial.suggest_int("fast", 2, 50)
    study.tell(trial, fast * 0.5)
    del study

    # our migrations do not trip over Optuna's version table
    assert upgrade(url) == head_revision()
    assert schema_diff(url) == []  # ...nor see its tables as drift
    with ResultStore(url) as store:
        store.save(make_result(bars=10, trades=1), kind="optimize_trial")

    again = optuna.load_study(study_name="sma-grid", storage=optuna_storage_url(url))
    assert len(again.trials) == 1 and again.best_params == {"fast": fast}
    assert again.best_value == fast * 0.5
    assert {"studies", "trials", "alembic_version"} <= _tables(url)
    optuna_revision = _scalar(url, "SELECT version_num FROM alembic_version")
    assert optuna_revision and optuna_revision != head_revision()


def test_optuna_storage_url_normalises_the_state_url(tmp_path):
    assert optuna_storage_url("postgres://u:pw@127.0.0.1/db") == (
        "postgresql+psycopg://u:pw@127.0.0.1/db")
    path = tmp_path / "new" / "state.db"
    assert optuna_storage_url(f"sqlite:///{path}") == f"sqlite:///{path}"
    assert path.parent.is_dir()  # Optuna could not create the file in a missing folder
    with pytest.raises(StateDatabaseError, match="in-memory"):
        optuna_storage_url("sqlite://")


# -- bad URLs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("bad", "shown"), [
    ("postgres//admin:hunter2@db/state", "postgres//admin:***@db/state"),
    ("postgresql+psycopg://admin:hunter2@127.0.0.1:notaport/state", "admin:***@127.0.0.1"),
    ("mysql://admin:hunter2@127.0.0.1/state", "mysql://admin:***@127.0.0.1/state"),
    ("postgresql+psycopg2://admin:hunter2@127.0.0.1/state", "psycopg2://admin:***@"),
    ("postgresql+psycopg://admin:hunter2@127.0.0.1:1/state",
     "postgresql+psycopg://admin:***@127.0.0.1:1/state"),
    ("sqlite:////proc/no-such-dir/state.db", "sqlite:////proc/no-such-dir/state.db"),
])
def test_a_bad_url_names_the_url_without_its_password(bad, shown):
    with pytest.raises(StateDatabaseError) as info:
        ResultStore(bad)
    message = str(info.value)
    assert shown in message, message
    everything = "".join(traceback.format_exception(info.value))
    assert "hunter2" not in everything
