"""The command line, as a user runs it: exit codes, text and JSON output, init, schemas, docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from botfleet import __version__
from botfleet.cli import app

from conftest import ROOT

BIN = Path(sys.executable).parent / "botfleet"


def run(*args: str, cwd: Path | None = None):
    import os

    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def test_console_script_runs_validate_and_version():
    out = subprocess.run([str(BIN), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"botfleet {__version__}"
    out = subprocess.run([str(BIN), "validate", "fleet.yaml"], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    strategies = len(list((ROOT / "strategies.d").glob("*.yaml")))
    assert out.stdout.startswith(f"valid: {9 + strategies} file(s) (3 bot, 1 exchange, "
                                 f"2 model, 1 notifier, 1 risk, {strategies} strategy)")


def test_every_command_has_help():
    for args in ([], ["validate"], ["run"], ["init"], ["config"], ["config", "explain"],
                 ["schema"], ["schema", "export"], ["schema", "docs"], ["strategy"],
                 ["strategy", "check"], ["strategy", "signals"]):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_validate_exit_codes_and_formats(tmp_path, write):
    assert run("validate", cwd=ROOT).exit_code == 0
    write("fleet.yaml", "kind: fleet\nversion: 1\nname: t\nbots: [b.yaml]\n")
    write("b.yaml", "kind: bot\nversion: 1\nname: b\npairs: [BTC/USDT]\nstrategy: s\nmode: x\n")
    result = run("validate", str(tmp_path / "fleet.yaml"), cwd=tmp_path)
    assert result.exit_code == 1
    assert "b.yaml:6:7: mode: 'x' is not allowed here (allowed: backtest, paper, live)" in \
        result.output
    data = json.loads(run("validate", "--format", "json", cwd=tmp_path).output)
    assert data["valid"] is False and data["files"] == ["fleet.yaml", "b.yaml"]
    assert {"file": "b.yaml", "line": 6, "col": 7, "path": "mode"}.items() <= \
        data["errors"][0].items()
    assert run("validate", "nope.yaml", cwd=tmp_path).exit_code == 2
    assert run("validate", "--format", "xml", cwd=tmp_path).exit_code == 2
    (tmp_path / "empty").mkdir()
    assert run("validate", "empty", cwd=tmp_path).exit_code == 2


def test_strict_turns_warnings_into_failure(tmp_path, write):
    write("fleet.yaml", "kind: fleet\nversion: 1\nname: t\nbots: [bots.d/*.yaml]\n")
    assert run("validate", cwd=tmp_path).exit_code == 0
    result = run("validate", "--strict", cwd=tmp_path)
    assert result.exit_code == 1 and "matches no files [warning]" in result.output


def test_run_prints_the_plan_of_the_example_fleet(tmp_path):
    from shared_data import SHARED, shared_file

    shared_file("binance_SOL-USDT_1h.csv")
    result = CliRunner().invoke(app, ["run", str(_example_copy(tmp_path)), "--no-download",
                                      "--no-prefect"],
                                env={"BOTFLEET_DATA_DIR": str(SHARED)})
    assert result.exit_code == 0, result.output
    assert "fleet 'example' is valid: 3 bot(s) (3 enabled)" in result.output
    assert "eth-meanrev   paper  binance   ETH/USDT" in result.output
    assert "capital: 10000 USDT, allocated to enabled bots: 9000 USDT" in result.output
    assert "it sends no order to an exchange" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("signals btc-trend"))
    assert line.startswith("signals btc-trend BTC/USDT 1h (sma_cross): ")
    assert int(line.split(": ")[1].split(" entries")[0]) > 10


def test_validate_reports_a_strategy_expression_error_at_its_column(tmp_path):
    fleet = _example_copy(tmp_path)
    path = fleet / "strategies.d" / "sma_cross.yaml"
    path.write_text(path.read_text().replace("fast_ma: sma(close, fast)",
                                             "fast_ma: smaa(close, fast)"))
    result = CliRunner().invoke(app, ["validate", str(fleet)])
    assert result.exit_code == 1
    row = next(i for i, x in enumerate(path.read_text().splitlines(), 1) if "smaa(" in x)
    col = path.read_text().splitlines()[row - 1].index("smaa") + 1
    assert f"sma_cross.yaml:{row}:{col}: indicators.fast_ma: unknown indicator or function " \
        "'smaa' (did you mean 'sma'?)" in result.output


def test_run_refuses_an_invalid_fleet(tmp_path, write):
    write("fleet.yaml", "kind: fleet\nversion: 1\nname: t\nfoo: 1\n")
    result = run("run", cwd=tmp_path)
    assert result.exit_code == 1 and "unknown key 'foo'" in result.output


def test_init_writes_a_fleet_that_validates_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "myfleet"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "schemas" / "bot.schema.json").exists()
    first = (target / "bots.d" / "btc-trend.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/bot.schema.json"
    assert run("validate", str(target)).exit_code == 0
    again = run("init", str(target))
    assert again.exit_code == 2 and "--force" in again.output
    assert run("init", str(target), "--force").exit_code == 0


def test_explain_prints_sources_and_rejects_unknown_bots():
    result = run("config", "explain", "btc-trend", cwd=ROOT)
    assert result.exit_code == 0
    assert any(line.startswith("parameters.fast") and "bots.d/btc-trend.yaml:8:" in line
               for line in result.output.splitlines())
    bad = run("config", "explain", "btc-trnd", cwd=ROOT)
    assert bad.exit_code == 2 and "did you mean 'btc-trend'?" in bad.output


def test_schema_export_writes_every_kind(tmp_path):
    result = run("schema", "export", str(tmp_path / "s"))
    assert result.exit_code == 0
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == sorted(f"{k}.schema.json" for k in
                           ("common", "fleet", "exchange", "bot", "strategy", "risk", "notifier",
                            "model"))


def test_schema_docs_check(tmp_path):
    out = tmp_path / "c.md"
    assert run("schema", "docs", "--check", "-o", str(out)).exit_code == 1
    assert run("schema", "docs", "-o", str(out)).exit_code == 0
    assert run("schema", "docs", "--check", "-o", str(out)).exit_code == 0
    assert run("schema", "docs").output == out.read_text()


@pytest.mark.parametrize("args", [["validate", "fleet.yaml"], ["config", "explain", "btc-trend"]])
def test_commands_on_an_invalid_fleet_print_problems_not_tracebacks(tmp_path, write, args):
    write("fleet.yaml", "kind: fleet\nversion: 1\nname: t\n\tbad\n")
    result = run(*(a if a != "btc-trend" else "x" for a in args), cwd=tmp_path)
    assert result.exit_code == 1
    assert "fleet.yaml:4:1: $: YAML syntax error: tab character" in result.output
    assert "Traceback" not in result.output


def _example_copy(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "fleet"
    target.mkdir()
    for item in ("fleet.yaml", "exchanges.d", "bots.d", "strategies.d", "notifiers.d", "risk.d",
                 "models.d"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, target / item)
    return target


def test_run_loads_candles_from_the_data_folder_then_from_the_store(tmp_path):
    from shared_data import SHARED, shared_file

    shared_file("binance_SOL-USDT_1h.csv")
    fleet = _example_copy(tmp_path)
    first = CliRunner().invoke(app, ["run", str(fleet), "--no-download", "--no-prefect"],
                               env={"BOTFLEET_DATA_DIR": str(SHARED)})
    assert first.exit_code == 0, first.output
    assert "data binance SOL/USDT 4h from 2024-01-01 00:00: resampled, 10942 candle(s)" in \
        first.output
    assert (fleet / "data" / "candles.db").exists()  # relative to the fleet, not the cwd
    again = CliRunner().invoke(app, ["run", str(fleet), "--no-download", "--no-prefect"],
                               env={"BOTFLEET_DATA_DIR": str(tmp_path / "nothing")})
    assert again.exit_code == 0 and "BTC/USDT 1h from 2024-01-01 00:00: store" in again.output


def test_run_without_data_or_network_says_so_and_fails(tmp_path):
    fleet = _example_copy(tmp_path)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["run", str(fleet), "--no-download", "--no-prefect"],
                                env={"BOTFLEET_DATA_DIR": str(tmp_path / "empty")})
    assert result.exit_code == 1
    assert "cannot run: no candles for 4 series" in result.output
    assert "does not invent data" in result.output
