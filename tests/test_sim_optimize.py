"""Optimisation: the search space, the cross-run step cache, the grid (fast and full path against
brute force), Optuna studies (TPE, NSGA-II, resumable on SQLite and PostgreSQL), objectives,
and the `optimize`/`montecarlo` commands. Real BTC/USDT candles from the shared data."""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from botfleet.sim import objectives as objs
from botfleet.sim.space import SpaceError, build_space, parse_range

from shared_data import load, shared_file
from stores import PG_URL, pg_available, pg_schema_url

ROOT = Path(__file__).resolve().parents[1]
SMA = ROOT / "strategies.d" / "sma_cross.yaml"
DECLARED = {"fast": {"default": 10, "range": [5, 50], "step": 1},
            "slow": {"default": 30, "range": [20, 200], "step": 5}}
Y2023 = (1672531200000, 1703980800000 - 1)  # 2023-01-01 .. 2023-12-31 (UTC)


# ----------------------------------------------------------------------------- space

def test_grid_is_every_combination_ints_stay_ints():
    s = build_space(DECLARED, overrides={"fast": {"range": [5, 15], "step": 5}})
    assert s.names == ["fast", "slow"]
    assert s.dims[0].values() == [5, 10, 15]
    assert all(type(v) is int for v in s.dims[1].values())
    assert s.size == 3 * 37
    grid = s.grid()
    assert len(grid) == 111 and grid[0] == {"fast": 5, "slow": 20}
    assert grid[-1] == {"fast": 15, "slow": 200}
    assert len({tuple(g.items()) for g in grid}) == 111


def test_float_steps_are_exact_and_choices_categorical():
    s = build_space({"k": {"default": 0.1, "range": [0.1, 0.5], "step": 0.1},
                     "ma": {"default": "sma", "choices": ["sma", "ema"]},
                     "n": {"default": 3}})
    assert s.dims[0].values() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert s.fixed == {"n": 3}
    d = s.distributions()
    assert d["k"].step == pytest.approx(0.1) and d["k"].high == 0.5
    assert list(d["ma"].choices) == ["sma", "ema"]
    assert len(s.grid()) == 10


def test_optuna_distributions_match_grid_values():
    s = build_space({"slow": {"default": 30, "range": [20, 203], "step": 5}})
    dist = s.distributions()["slow"]
    assert (dist.low, dist.high, dist.step) == (20, 200, 5)


def test_space_errors_say_what_to_do():
    with pytest.raises(SpaceError, match="neither a range nor choices"):
        build_space({"n": {"default": 3}}, only=["n"])
    with pytest.raises(SpaceError, match=r"1,702 combinations.*tpe"):
        build_space(DECLARED).grid(max_size=1000)
    with pytest.raises(SpaceError, match="unknown parameter.*declares: fast, slow"):
        build_space(DECLARED, only=["fats"])
    with pytest.raises(SpaceError, match="needs a `step`"):
        build_space({"k": {"default": 0.5, "range": [0.1, 0.9]}}).grid()
    assert parse_range("fast=5:15:5") == ("fast", {"range": [5, 15], "step": 5})
    assert parse_range("ma=sma,ema") == ("ma", {"choices": ["sma", "ema"]})
    with pytest.raises(SpaceError):
        parse_range("fast")


def test_only_subset_keeps_other_parameters_fixed():
    s = build_space(DECLARED, only=["slow"], values={"fast": 12})
    assert s.names == ["slow"] and s.fixed == {"fast": 12}


# ----------------------------------------------------------------------------- objectives

def test_objective_directions():
    got = {o.name: o.direction for o in objs.resolve(
        ["sharpe", "max_drawdown", "volatility", "profit_factor", "calmar"])}
    assert got == {"sharpe": "maximize", "max_drawdown": "maximize",
                   "volatility": "minimize", "profit_factor": "maximize",
                   "calmar": "maximize"}
    dd = objs.resolve(["max_drawdown"])[0]
    # -0.10 and 0.10 are both a 10% drawdown: better than -0.30 either way
    assert dd.value({"max_drawdown": -0.10}) > dd.value({"max_drawdown": -0.30})
    assert dd.value({"max_drawdown": 0.10}) == dd.value({"max_drawdown": -0.10})
    assert objs.resolve(["sharpe"])[0].value({"sharpe": float("nan")}) == -math.inf
    with pytest.raises(ValueError, match="did you mean 'sharpe'"):
        objs.resolve(["sharp"])
    with pytest.raises(ValueError, match="no plugin objective"):
        objs.resolve(["plugin:nope"], {})


# ----------------------------------------------------------------------------- step cache

@pytest.fixture(scope="module")
def btc_1h():
    return load("binance_BTC-USDT_1h.csv")


def _compile(name: str, params: dict | None = None):
    from botfleet.strategy.declarative import load_strategy

    return load_strategy(ROOT / "strategies.d" / name, "1h", params)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "strategies.d").glob("*.yaml")))
def test_cached_signals_equal_uncached(name, btc_1h):
    from botfleet.sim.optimize import keyed
    from botfleet.strategy.program import step_cache

    candles = btc_1h[-6000:]
    ref = _compile(name).signals(candles)
    with step_cache() as cache:
        for _ in range(2):  # the second run is served from the cache
            got = keyed(_compile(name)).signals(candles)
            for key in ("entry_long", "exit_long", "entry_short", "exit_short"):
                assert np.array_equal(getattr(ref, key), getattr(got, key)), key
            assert ref.series.keys() == got.series.keys()
            for key in ref.series:
                assert np.array_equal(ref.series[key], got.series[key], equal_nan=True), key
        assert cache.hits > 0


def test_cache_shares_steps_across_parameters_but_not_candles(btc_1h):
    from botfleet.sim.optimize import keyed
    from botfleet.strategy.program import step_cache

    a = btc_1h[-5000:]
    b = a.copy()  # same values, another array
    b["close"][-2000:] *= 1.5
    combos = [{"fast": f, "slow": s} for f in (5, 10) for s in (20, 40)]
    refs = {(k, tuple(c.values())): _compile("sma_cross.yaml", c).signals(x)
            for k, x in (("a", a), ("b", b)) for c in combos}
    with step_cache() as cache:
        for k, x in (("a", a), ("b", b), ("a", a)):
            for c in combos:
                got = keyed(_compile("sma_cross.yaml", c)).signals(x)
                ref = refs[(k, tuple(c.values()))]
                assert np.array_equal(got.entry_long, ref.entry_long)
                assert np.array_equal(got.series["slow_ma"], ref.series["slow_ma"],
                                      equal_nan=True)
        assert cache.hits > cache.misses
        with pytest.raises(ValueError, match="read-only"):
            a["close"][0] = 1.0  # cached candles cannot change under the cache
    a["close"][0] = a["close"][0]  # writable again after the block


# ----------------------------------------------------------------------------- targets

def make_target(candles, factory=None, symbol="BTC/USDT", timeframe="1h", **fill):
    from botfleet.cli_research import Target
    from botfleet.config.loader import load_fleet
    from botfleet.sim.engine import PairData
    from botfleet.sim.fillmodel import FillModel
    from botfleet.strategy.declarative import compile_entry

    entry = load_fleet(SMA).entries["strategy"][0]
    base = compile_entry(entry, timeframe)
    fills = FillModel.from_yaml(fill or {}).with_fees(Decimal("0.0002"), Decimal("0.001"))
    fills = type(fills)(**{**fills.__dict__, "shorts": False})
    if factory is None:
        def factory(params):
            return compile_entry(entry, timeframe, {**base.params, **params})
    return Target("btc-sma", base, [PairData(symbol, candles)], timeframe, fills,
                  Decimal(10_000), base.sizing, factory=factory, declared=DECLARED)


@pytest.fixture(scope="module")
def target(btc_1h):
    return make_target(btc_1h)


TINY = {"fast": {"range": [5, 15], "step": 5}, "slow": {"range": [20, 60], "step": 20}}


def _settings(**kw):
    from botfleet.sim.optimize import Settings

    return Settings(**{"start_ms": Y2023[0], "end_ms": Y2023[1], "jobs": 2, **kw})


def _brute(target, space):
    from botfleet.sim.optimize import evaluate

    return [(p, evaluate(target, {**space.fixed, **p}, *Y2023).metrics) for p in space.grid()]


@pytest.fixture(scope="module")
def brute(target):
    space = build_space(DECLARED, overrides=TINY)
    return space, _brute(target, space)


def test_grid_full_path_finds_brute_force_best(target, brute):
    from botfleet.sim.optimize import grid

    space, rows = brute
    res = grid(target, space, _settings(fast=False))
    assert res.path == "full" and len(res.trials) == 9
    feasible = [(p, m) for p, m in rows if m["n_trades"] >= 1]
    want = max(feasible, key=lambda r: r[1]["sharpe"])[0]
    assert {k: res.best[k] for k in want} == want
    for t, (p, m) in zip(res.trials, rows, strict=True):  # grid order, same numbers
        assert {k: t.params[k] for k in p} == p
        for k in objs.TABLE_METRICS:
            assert t.metrics[k] == pytest.approx(m[k], rel=0, abs=0) or \
                (math.isnan(t.metrics[k]) and math.isnan(m[k])), k
    table = res.table()
    assert table.iloc[0]["fast"] == want["fast"] and table.iloc[0]["slow"] == want["slow"]
    assert list(table["obj:sharpe"][table["feasible"]]) == \
        sorted(table["obj:sharpe"][table["feasible"]], reverse=True)


def test_grid_fast_path_equals_full_path_per_combination(target, brute):
    from botfleet.sim import gridfast
    from botfleet.sim.optimize import grid

    why = gridfast.applicable(target)
    if why:
        pytest.skip(f"fast path unavailable: {why}")
    space, rows = brute
    res = grid(target, space, _settings())
    assert res.path == "fast", res.notes
    for t, (p, m) in zip(res.trials, rows, strict=True):
        assert {k: t.params[k] for k in p} == p
        for k in ("final_equity", "n_trades", "max_drawdown", "total_return", "win_rate"):
            assert t.metrics[k] == m[k], (p, k, t.metrics[k], m[k])
        # ratios: streamed moments vs the curve's, equal up to float summation order
        for k in ("sharpe", "sortino", "profit_factor", "exposure", "fees_paid"):
            assert t.metrics[k] == pytest.approx(m[k], rel=1e-12), (p, k)


def test_min_trades_and_skipped_combinations(target, brute):
    from botfleet.sim.optimize import grid
    from botfleet.strategy.errors import StrategyError

    space, rows = brute
    cut = sorted(m["n_trades"] for _, m in rows)[5]
    res = grid(target, space, _settings(fast=False, min_trades=cut))
    ok = [(p, m) for p, m in rows if m["n_trades"] >= cut]
    want = max(ok, key=lambda r: r[1]["sharpe"])[0]
    assert {k: res.best[k] for k in want} == want
    assert sum(t.feasible for t in res.trials) == len(ok)

    def constrained(params):  # a constraint the declarations cannot express
        if params["fast"] * 2 > params["slow"]:
            raise StrategyError([f"fast {params['fast']} too close to slow {params['slow']}"])
        return target.factory(params)

    t2 = make_target(target.pairs[0].candles, factory=constrained)
    res = grid(t2, space, _settings(fast=False, jobs=1))
    skipped = sum(1 for p, _ in rows if p["fast"] * 2 > p["slow"])
    assert res.skipped == skipped and res.skipped > 0
    assert any("skipped" in n for n in res.notes)
    assert res.best["fast"] * 2 <= res.best["slow"]


def test_plugin_objective(target, brute):
    from botfleet.sim.optimize import grid
    from botfleet.strategy.plugins import discover

    found = discover([ROOT / "plugins"], use_entry_points=False)
    assert "robust_sharpe" in found.objectives and not found.errors
    space, rows = brute
    res = grid(target, space, _settings(fast=False, objectives=["plugin:robust_sharpe"]),
               found.objectives)
    fn = found.objectives["robust_sharpe"]
    want = max(((p, m) for p, m in rows if m["n_trades"] >= 1), key=lambda r: fn(r[1]))[0]
    assert {k: res.best[k] for k in want} == want
    best = next(t for t in res.trials if t.params == res.best)
    assert best.values[0] == pytest.approx(fn(best.metrics))


def test_grid_too_large_names_size(target):
    from botfleet.sim.optimize import grid

    with pytest.raises(SpaceError, match="1,702 combinations"):
        grid(target, build_space(DECLARED), _settings(max_grid=1000))


# ----------------------------------------------------------------------------- optuna

def test_tpe_reproducible_with_seed(target):
    from botfleet.sim.optimize import optuna_search

    space = build_space(DECLARED, overrides=TINY)
    runs = [optuna_search(target, space, _settings(method="tpe", trials=6, seed=7, jobs=1))
            for _ in range(2)]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert runs[0].best == runs[1].best
    other = optuna_search(target, space, _settings(method="tpe", trials=6, seed=8, jobs=1))
    assert [t.params for t in other.trials] != [t.params for t in runs[0].trials]


def test_nsga2_front_is_non_dominated(target):
    from botfleet.sim.optimize import optuna_search

    space = build_space(DECLARED, overrides={"fast": {"range": [5, 25], "step": 5},
                                             "slow": {"range": [30, 90], "step": 10}})
    res = optuna_search(target, space, _settings(method="nsga2", trials=16, seed=3, jobs=1,
                                                 objectives=["sharpe", "max_drawdown"]))
    assert res.directions == ["maximize", "maximize"]
    o = objs.resolve(["sharpe", "max_drawdown"])
    ok = [t for t in res.trials if not t.skipped and t.feasible]
    front = [res.trials[i] for i in res.front]
    assert front
    for f in front:  # nobody beats a front member on both
        assert not any(objs.dominates(t.values, f.values, o) for t in ok)
    for t in ok:  # everyone off the front is beaten by someone on it
        if not any(t is f for f in front):
            assert any(objs.dominates(f.values, t.values, o) for f in front)
    table = res.table()
    assert table["pareto"].sum() == len(front)


def _state_url(kind: str, tmp_path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}", lambda: None
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"t_opt_{uuid.uuid4().hex[:10]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop():
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return pg_schema_url(schema), drop


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_study_resumes_by_name_and_stores_runs(kind, target, tmp_path):
    from botfleet.sim.optimize import optuna_search
    from botfleet.storage.results import ResultStore

    url, cleanup = _state_url(kind, tmp_path)
    try:
        space = build_space(DECLARED, overrides=TINY)
        first = optuna_search(target, space, _settings(method="tpe", trials=3, seed=1,
                                                       study="resume-me", state_url=url))
        assert len(first.trials) >= 3
        again = optuna_search(target, space, _settings(method="tpe", trials=6, seed=1,
                                                       study="resume-me", state_url=url))
        n = len(again.trials)
        assert 6 <= n <= 7  # two workers may each start the last trial
        assert [t.params for t in again.trials[:3]] == [t.params for t in first.trials[:3]]
        done = optuna_search(target, space, _settings(method="tpe", trials=6, seed=1,
                                                      study="resume-me", state_url=url))
        assert len(done.trials) == n  # reached: nothing new
        with ResultStore(url) as repo:
            study_runs = repo.list_runs(kind="optimize")
            assert len(study_runs) == 3
            trials = repo.list_runs(kind="optimize_trial")
            assert {r.parent_id for r in trials} <= {r.id for r in study_runs}
            last = [r for r in trials if r.parent_id == again.run_id]
            assert len(last) == sum(1 for t in again.trials if not t.skipped)
            best = repo.get(again.run_id)
            assert len(best.equity) > 1000 and best.params["fast"] == again.best["fast"]
    finally:
        cleanup()


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def app():
    import typer

    from botfleet.cli_optimize import montecarlo, optimize, walkforward

    a = typer.Typer()
    a.command("optimize")(optimize)
    a.command("walkforward")(walkforward)
    a.command("montecarlo")(montecarlo)
    return a


def _cli(app, *args):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, list(args))


COMMON = ("--pair", "BTC/USDT", "-t", "1h", "--start", "2023-01-01", "--end", "2023-06-30")


def test_cli_optimize_grid(app, tmp_path):
    data = str(shared_file("binance_BTC-USDT_1h.csv"))
    out = _cli(app, "optimize", str(SMA), *COMMON, "--data", data, "--param-range",
               "fast=5:15:5", "--param-range", "slow=20:60:20", "--jobs", "1",
               "--state", f"sqlite:///{tmp_path / 's.db'}")
    assert out.exit_code == 0, out.output
    assert "best: fast=" in out.output and "stored as run" in out.output
    bad = _cli(app, "optimize", str(SMA), *COMMON, "--data", data, "--method", "anneal")
    assert bad.exit_code == 2 and "grid, tpe or nsga2" in bad.output
    bad = _cli(app, "optimize", str(SMA), *COMMON, "--data", data, "--objective", "sharp",
               "--no-save")
    assert bad.exit_code == 2 and "did you mean 'sharpe'" in bad.output


def test_cli_optimize_nsga2_json(app):
    import json

    data = str(shared_file("binance_BTC-USDT_1h.csv"))
    out = _cli(app, "optimize", str(SMA), *COMMON, "--data", data, "--param-range",
               "fast=5:15:5", "--param-range", "slow=20:60:20", "--objective", "sharpe",
               "--objective", "max_drawdown", "--trials", "6", "--jobs", "1", "--seed", "1",
               "--no-save", "--format", "json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["method"] == "nsga2" and len(doc["trials"]) == 6 and doc["front"]


def test_cli_montecarlo(app):
    data = str(shared_file("binance_BTC-USDT_1h.csv"))
    out = _cli(app, "montecarlo", str(SMA), *COMMON, "--data", data, "--runs", "200",
               "--seed", "1")
    assert out.exit_code == 0, out.output
    assert "max drawdown" in out.output and "P(loss)" in out.output
    bad = _cli(app, "montecarlo", str(SMA), *COMMON, "--data", data, "--method", "x")
    assert bad.exit_code == 2
