"""Logging set up by one test (a CLI command installs botfleet's JSON handler on stderr) is
undone after it: `snapshot_logging` puts back what `install_logging` changed, and the suite's
fixtures (conftest.py) use it, so later tests print no JSON lines.

The last two tests run in file order: the first installs logging through the CLI, the second
checks that the next test starts without it."""

from __future__ import annotations

import io
import logging
import sys
import threading

from test_runtime_helpers import bot_yaml, write_fleet
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.obs import logs
from botfleet.obs.logs import LogSettings, install_logging, set_cli_overrides, snapshot_logging


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "botfleet", False)]


AT_IMPORT = (logging.getLogger().level, _ours(), logging.getLogger("httpx").level)


def test_snapshot_puts_back_what_install_logging_changed(tmp_path):
    root = logging.getLogger()
    before = (root.level, _ours(), logging.getLogger("ccxt").level, sys.excepthook,
              threading.excepthook, dict(logs._CLI))
    fresh = f"botfleet.test_fresh_{id(tmp_path)}"  # a logger that does not exist yet
    restore = snapshot_logging()
    set_cli_overrides(json=True, level="debug")
    pipe = io.StringIO()
    settings = LogSettings(levels={"ccxt": "error", fresh: "critical"}, file=tmp_path / "f.log")
    made = install_logging(stream=pipe, settings=settings)
    assert len(made) == 2 and all(h in root.handlers for h in made)
    assert root.level == logging.DEBUG and logging.getLogger("ccxt").level == logging.ERROR
    assert logging.getLogger(fresh).level == logging.CRITICAL
    assert sys.excepthook is not before[3]

    restore()
    after = (root.level, _ours(), logging.getLogger("ccxt").level, sys.excepthook,
             threading.excepthook, dict(logs._CLI))
    assert after == before
    assert logging.getLogger(fresh).level == logging.NOTSET
    assert all(h not in root.handlers for h in made)
    assert made[1].stream is None  # the rotating file's handler was closed
    logging.getLogger("botfleet.test").error("after the restore")
    assert "after the restore" not in pipe.getvalue()


def test_snapshot_puts_back_a_handler_a_later_install_replaced():
    restore_outer = snapshot_logging()
    try:
        first = install_logging(stream=io.StringIO())[0]
        restore = snapshot_logging()
        install_logging(stream=io.StringIO())
        assert first not in logging.getLogger().handlers
        restore()
        assert _ours() == [first]
    finally:
        restore_outer()


def test_a_cli_command_installs_botfleet_logging(tmp_path):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    out = CliRunner().invoke(app, ["--log-level", "debug", "validate", str(path)])
    assert out.exit_code == 0, out.output
    assert len(_ours()) == 1 and logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("httpx").level == logging.WARNING


def test_the_next_test_starts_with_the_logging_it_had_before():
    assert (logging.getLogger().level, _ours(), logging.getLogger("httpx").level) == AT_IMPORT
