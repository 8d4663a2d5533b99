"""`botfleet backtest` and the main job's backtest step, through the real command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from botfleet.cli import app

from conftest import ROOT
from shared_data import SHARED, shared_file


def _invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_backtest_a_strategy_file_writes_report_and_json(tmp_path):
    data = shared_file("binance_BTC-USDT_1h.csv")
    report = tmp_path / "r.html"
    result = _invoke("backtest", str(ROOT / "strategies.d" / "sma_cross.yaml"), "--pair",
                     "BTC/USDT", "--data", str(data), "--start", "2024-01-01", "--end",
                     "2024-12-31", "--capital", "5000", "--fill", "slippage.model=fixed",
                     "--fill", "slippage.bps=5", "--state", f"sqlite:///{tmp_path}/s.db",
                     "--report", str(report), "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["run_id"] == 1 and out["metrics"]["n_trades"] > 5
    assert out["metrics"]["start"] >= 1704067200000
    assert report.stat().st_size > 100_000 and "sma_cross" in report.read_text()
    from botfleet.storage.results import ResultStore

    with ResultStore(f"sqlite:///{tmp_path}/s.db") as repo:
        stored = repo.get(1)
    assert str(stored.capital) == "5000"
    assert "5 bps" in stored.fill_model["market orders"]


def test_backtest_text_summary_without_saving(tmp_path):
    data = shared_file("binance_ETH-USDT_1h.csv")
    result = _invoke("backtest", str(ROOT / "strategies.d" / "rsi_reversion.yaml"), "--pair",
                     "ETH/USDT", "--data", str(data), "--start", "2023-01-01", "--no-save")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("backtest rsi_reversion (rsi_reversion) ETH/USDT 1h "
                                    "2023-01-01 00:00")
    assert "Sharpe" in result.output and "stored as run" not in result.output


def test_bad_fill_override_names_the_key(tmp_path):
    result = _invoke("backtest", str(ROOT / "strategies.d" / "sma_cross.yaml"), "--pair",
                     "BTC/USDT", "--fill", "slippage.model=fixd", "--no-save")
    assert result.exit_code == 2
    assert "fills.slippage.model: 'fixd' is not one of" in result.output


def test_usage_errors(tmp_path):
    r = _invoke("backtest", str(ROOT / "strategies.d" / "sma_cross.yaml"), "--no-save")
    assert r.exit_code == 2 and "needs --pair" in r.output
    r = _invoke("backtest", "nope.yaml", "--no-save")
    assert r.exit_code == 2 and "no such strategy file" in r.output
    r = _invoke("backtest", "btc-trnd", "--fleet", str(ROOT / "fleet.yaml"), "--no-save")
    assert r.exit_code == 2 and "did you mean 'btc-trend'" in r.output
    r = _invoke("backtest", "btc-trend", "--fleet", str(ROOT / "fleet.yaml"), "--start",
                "2024-02-01", "--end", "2024-01-01")
    assert r.exit_code == 2 and "is after --end" in r.output
    r = _invoke("backtest", "btc-trend", "--start", "yesterday")
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output


def test_backtest_a_bot_of_a_fleet(tmp_path):
    from test_cli import _example_copy

    shared_file("binance_SOL-USDT_1h.csv")
    fleet = _example_copy(tmp_path)
    env = {"BOTFLEET_DATA_DIR": str(SHARED)}
    assert _invoke("run", str(fleet), "--no-download", "--no-prefect", env=env).exit_code == 0
    assert (fleet / "data" / "reports" / "index.html").exists()
    r = _invoke("backtest", "sol-breakout", "--fleet", str(fleet), "--start", "2024-01-01",
                "--fill", "volume_cap=1%", "--format", "json", env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["name"] == "sol-breakout" and out["metrics"]["n_trades"] > 0
