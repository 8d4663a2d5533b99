"""Structured logs: JSON or console chosen as documented, levels per module and a rotated file
from the fleet's `logging:` block, the cycle's and the order's ids on the lines they cause,
uncaught exceptions printed masked, and the command line's options."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from test_runtime_helpers import HOUR, T0, bot_yaml, find_close, load, runner, venue, write_fleet
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.obs.logs import (
    LogSettings,
    install_logging,
    order_context,
    set_cli_overrides,
)
from botfleet.runtime.logctx import TextFormatter, cycle_context, install


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch):
    monkeypatch.delenv("BOTFLEET_LOG_FORMAT", raising=False)
    monkeypatch.delenv("BOTFLEET_LOG_LEVEL", raising=False)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    hooks = (sys.excepthook, __import__("threading").excepthook)
    yield
    set_cli_overrides()
    for h in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
    sys.excepthook, __import__("threading").excepthook = hooks


def _log(name: str = "botfleet.test", level=logging.INFO, msg="hello %s", *args):
    logging.getLogger(name).log(level, msg, *(args or ("world",)))


def test_json_when_not_a_terminal_console_on_one():
    pipe, tty = io.StringIO(), Tty()
    install_logging(stream=pipe)
    with cycle_context("bot-a", "cid-0123456789"):
        _log()
    line = json.loads(pipe.getvalue().strip())
    assert line["message"] == "hello world" and line["level"] == "info"
    assert line["bot"] == "bot-a" and line["correlation_id"] == "cid-0123456789"
    assert line["logger"] == "botfleet.test" and line["ts"].endswith("Z")
    install_logging(stream=tty)
    with cycle_context("bot-a", "cid-0123456789"), order_context("bf-a-1-xy"):
        _log()
    text = tty.getvalue().strip()
    assert text.endswith("info    [bot-a cid-0123 bf-a-1-xy] botfleet.test: hello world"), text


def test_precedence_arguments_then_environment_then_yaml(monkeypatch):
    stream = Tty()
    yaml_says = LogSettings(format="json", level="warning")
    install_logging(stream=stream, settings=yaml_says)
    _log()  # info: below the YAML's warning
    _log(level=logging.WARNING)
    assert json.loads(stream.getvalue())["level"] == "warning"
    monkeypatch.setenv("BOTFLEET_LOG_FORMAT", "console")
    monkeypatch.setenv("BOTFLEET_LOG_LEVEL", "info")
    stream = io.StringIO()
    install_logging(stream=stream, settings=yaml_says)
    _log()
    assert " info " in stream.getvalue() and not stream.getvalue().startswith("{")
    stream = io.StringIO()
    install_logging(stream=stream, settings=yaml_says, json=True, level="error")
    _log(level=logging.WARNING)
    _log(level=logging.ERROR)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["level"] == "error"
    set_cli_overrides(json=False, level="debug")  # botfleet --log-level debug, before the YAML
    stream = io.StringIO()
    install_logging(stream=stream, settings=yaml_says)
    _log(level=logging.DEBUG)
    assert " debug " in stream.getvalue()


def test_bad_levels_and_formats_are_refused_naming_where(monkeypatch):
    with pytest.raises(ValueError, match=r"logging.levels.ccxt: log level 'loud'"):
        install_logging(stream=io.StringIO(), settings=LogSettings(levels={"ccxt": "loud"}))
    with pytest.raises(ValueError, match="--log-level: log level 'verbose'"):
        install_logging(stream=io.StringIO(), level="verbose")
    monkeypatch.setenv("BOTFLEET_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="BOTFLEET_LOG_FORMAT='xml': json or console"):
        install_logging(stream=io.StringIO())


FLEET_LOGGING = """
logging:
  level: info
  format: console
  levels: {{botfleet.noisy: error, botfleet.chatty: debug}}
  file: logs/fleet.log
  rotate_mb: {mb}
  keep: 2
"""


def test_the_fleet_yaml_sets_levels_per_module_and_a_rotated_json_file(tmp_path):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    with path.open("a") as f:
        f.write(FLEET_LOGGING.format(mb=0.002))  # ~2 kB per file
    fleet = load(path).fleet
    assert fleet.logging.file == tmp_path / "logs" / "fleet.log"
    stream = io.StringIO()
    install_logging(fleet, stream=stream)
    _log("botfleet.noisy.sub", logging.WARNING, "dropped")
    _log("botfleet.chatty", logging.DEBUG, "kept %s", "debug")
    assert "dropped" not in stream.getvalue() and "kept debug" in stream.getvalue()
    for i in range(200):
        _log("botfleet.test", logging.INFO, "line %05d %s", i, "x" * 40)
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["fleet.log", "fleet.log.1", "fleet.log.2"]  # keep: 2
    for name in files:
        text = (tmp_path / "logs" / name).read_text()
        assert 0 < len(text) <= 2200
        assert all(json.loads(ln)["logger"] for ln in text.splitlines())  # JSON, always
    newest = (tmp_path / "logs" / "fleet.log").read_text().splitlines()[-1]
    assert json.loads(newest)["message"].startswith("line 00199")


def test_the_yaml_block_is_checked_with_positions(tmp_path):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    with path.open("a") as f:
        f.write("logging: {level: loud, rotate_mb: 0}\nsecrets: {provider: vault}\n")
    out = CliRunner().invoke(app, ["validate", str(path)])
    assert out.exit_code == 1
    text = out.output
    assert "fleet.yaml:" in text and "logging.level" in text and "logging.rotate_mb" in text
    assert "secrets.provider" in text


def test_cycle_and_order_ids_on_the_executor_lines(tmp_path):
    server = venue()
    try:
        fleet = load(write_fleet(tmp_path, {"a": bot_yaml("a")}))
        up = find_close(server, "BTC/USDT", T0 + HOUR, True)
        run = runner(fleet, server).start()
        try:
            server.set_time(up)
            stream = io.StringIO()
            install_logging(stream=stream, json=True)
            (result,) = run.run_once(now_ms=up)
        finally:
            run.shutdown(5)
    finally:
        server.stop()
    assert result.outcome == "ok" and result.orders
    lines = [json.loads(ln) for ln in stream.getvalue().splitlines()]
    placed = [ln for ln in lines if ln["logger"] == "botfleet.execution.executor"]
    assert {ln["order_id"] for ln in placed} == {o.client_id for o in result.orders}
    assert {ln["correlation_id"] for ln in placed} == {result.correlation_id}
    assert all(ln["bot"] == "a" for ln in placed)


def test_an_uncaught_exception_is_printed_masked():
    code = ("from botfleet.obs.logs import install_logging\n"
            "install_logging()\n"
            "import threading\n"
            "t = threading.Thread(target=lambda: 1 / 0 if False else "
            "(_ for _ in ()).throw(OSError('redis://:ThreadPw123@h down')))\n"
            "t.start(); t.join()\n"
            "raise RuntimeError('cannot open postgresql://u:MainPw123@db/x')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "PYTHONPATH": "src"})
    assert done.returncode == 1
    assert "RuntimeError: cannot open postgresql://u:***@db/x" in done.stderr
    assert "OSError: redis://:***@h down" in done.stderr
    assert "MainPw123" not in done.stderr and "ThreadPw123" not in done.stderr


def test_the_former_install_still_works():
    stream = io.StringIO()
    handler = install("info", "json", stream)
    _log()
    assert json.loads(stream.getvalue())["message"] == "hello world"
    assert handler in logging.getLogger().handlers
    assert TextFormatter.__name__ == "ConsoleFormatter"
    with pytest.raises(ValueError, match="log format 'xml'"):
        install("info", "xml")


def test_the_command_line_options(tmp_path):
    cli = CliRunner()
    out = cli.invoke(app, ["--log-level", "verbose", "schema", "export", str(tmp_path)])
    assert out.exit_code == 2 and "log level 'verbose'" in out.output
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    out = cli.invoke(app, ["--log-json", "--log-level", "debug", "validate", str(path)])
    assert out.exit_code == 0, out.output
    install_logging(stream=Tty())  # a later install (the fleet's) keeps the command line's
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "botfleet", False)]
    assert len(ours) == 1 and type(ours[0].formatter).__name__ == "JsonFormatter"
    assert root.level == logging.DEBUG


def test_a_handler_added_later_by_another_library_gets_masked_records():
    from botfleet.obs.masking import register_secret

    register_secret("LateHandlerSecret1")
    install_logging(stream=io.StringIO())
    late = io.StringIO()
    foreign = logging.StreamHandler(late)  # e.g. Prefect's API log handler, no botfleet filter
    foreign.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("prefect.flow_runs.test")
    logger.addHandler(foreign)
    try:
        try:
            raise OSError("dial postgresql://u:LateHandlerSecret1@db/x")
        except OSError:
            logger.exception("flow failed with %s", "LateHandlerSecret1")
    finally:
        logger.removeHandler(foreign)
    text = late.getvalue()
    assert "LateHandlerSecret1" not in text
    assert "ERROR flow failed with ***" in text and "OSError: dial postgresql://u:***@db/x" in text
