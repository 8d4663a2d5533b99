"""The control panel end to end: `botfleet ui` serving on 127.0.0.1, driven in headless
Chromium (Debian's /usr/bin/chromium, no browser download) by Playwright.

Log in, break a bot's YAML and see the error at its line, fix it and save; run a backtest and
see its equity chart; engage the kill switch and see the bot's state change; and time the
overview of a 100-bot fleet. Screenshots of every page go to tests/artifacts/ui/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ui_fixtures import OPERATOR_PASSWORD, hundred_bot_fleet, ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

from botfleet.access import hash_password

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "ui"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Panel:
    """`botfleet ui` in its own process group (stopped with the group at the end)."""

    def __init__(self, fleet_file: Path, log: Path, *, port: int | None = None,
                 cwd: Path | None = None, env: dict | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BOTFLEET_UI_PASSWORD_HASH": hash_password(OPERATOR_PASSWORD),
               **(env or {})}
        env.pop("BOTFLEET_UI_NO_AUTH", None)
        env.pop("PREFECT_API_URL", None)
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "botfleet.cli", "ui", "--fleet", str(fleet_file),
             "--port", str(self.port)], env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=cwd)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"the panel did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so the window is made as
    tall as that block for the picture, then set back."""
    page.wait_for_timeout(300)  # let the last rerun paint
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                           "'[data-testid=\"stMain\"], [data-testid=\"stMainBlockContainer\"]')]"
                           ".map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": size["width"], "height": min(max(height + 80,
                                                                      size["height"]), 6000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size(size)


def _idle(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)


def _offline(page) -> list[str]:
    """Refuse every request that leaves 127.0.0.1 (the machine is offline; so is a panel in a
    locked-down network); the list of those refused, for the test to check it is empty."""
    refused: list[str] = []

    def route(r):
        if re.match(r"^(https?|wss?)://127\.0\.0\.1[:/]", r.request.url) or \
                r.request.url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return refused


def _login(page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Password", exact=True).fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Fleet overview").wait_for(timeout=60_000)


def _nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()


def _select(page, label: str, option: str, nth: int = 0) -> None:
    page.get_by_role("combobox", name=label, exact=True).nth(nth).click()
    page.get_by_role("option", name=option, exact=True).click()
    _idle(page)


def test_login_edit_yaml_backtest_and_kill_switch_in_a_browser(ui_fleet, browser):  # noqa: F811
    from playwright.sync_api import expect

    panel = Panel(ui_fleet, ARTIFACTS / "panel.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside = _offline(page)
        page.goto(panel.url)
        page.get_by_label("Password", exact=True).wait_for()
        _shot(page, "01-login")
        page.get_by_label("Password", exact=True).fill("not it")
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("Wrong password.").wait_for()
        _login(page, panel.url)
        page.locator('[data-testid="stDataFrame"]').wait_for()
        _shot(page, "02-overview")

        # config: break the bot's YAML, see the error at its line, fix, save
        _nav(page, "Config")
        page.get_by_role("heading", name="Config", exact=True).wait_for()
        _select(page, "File", "bots.d/btc-trend.yaml")
        path = ui_fleet.parent / "bots.d" / "btc-trend.yaml"
        disk = path.read_text()
        # typed into the code editor (Ace in the component's iframe): no blur, no Ctrl+Enter
        frame = page.frame_locator('iframe[title="code_editor.code_editor"]')
        ace = frame.locator("#REACT_ACE_EDITOR")
        ace.wait_for()
        ace.click()
        page.keyboard.press("Control+End")
        added = "timefame: 1h"
        broken = disk + ("" if disk.endswith("\n") else "\n") + added
        line = broken.count("\n") + 1
        page.keyboard.type(added, delay=20)
        alert = page.get_by_text(re.compile(rf"line {line}, column 1: timefame: unknown key"))
        alert.wait_for()
        marked = frame.locator(".ace_gutter-cell.ace_error")  # the gutter, at its line
        expect(marked).to_have_count(1)
        expect(marked).to_have_text(str(line))
        assert frame.locator(".bf-error-line").count() == 1
        assert frame.locator(".ace_autocomplete:visible").count() == 0  # no pop-up in the way
        _shot(page, "03-config-error")
        page.get_by_role("button", name="Save").click()
        page.get_by_text(re.compile("not saved")).wait_for()
        assert path.read_text() == disk
        ace.click()
        page.keyboard.press("Control+End")  # after "timefame: 1h": put the "r" back
        for _ in "ame: 1h":
            page.keyboard.press("ArrowLeft")
        page.keyboard.type("r")
        fixed = broken.replace("timefame: 1h", "timeframe: 1h")
        page.get_by_text("Valid.", exact=True).wait_for()
        _idle(page)
        page.get_by_role("button", name="Save").click()
        page.get_by_text("saved bots.d/btc-trend.yaml", exact=True).wait_for()
        assert path.read_text() == fixed
        # the editor's code came from the panel, not a CDN: with every request leaving
        # 127.0.0.1 refused it loaded, marked the error and sent each key. Refused, and not
        # needed: Streamlit's page icon (an SVG from Google's font server) and the web font
        # the editor's Streamlit theme imports (Source Code Pro; monospace is used instead)
        optional = ("fonts.gstatic.com/s/i/short-term/release/materialsymbols",
                    "fonts.googleapis.com/css2?family=Source+Code+Pro")
        assert [u for u in outside if not any(o in u for o in optional)] == []
        _shot(page, "04-config-saved")

        # strategy lab: a backtest and its equity chart
        _nav(page, "Strategy lab")
        page.get_by_role("heading", name="Strategy lab").wait_for()
        _select(page, "Bot", "btc-trend")
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text(re.compile(r"stored as run \d+")).wait_for(timeout=120_000)
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        _idle(page)
        _shot(page, "05-lab-backtest")

        # controls: kill switch on one bot; the overview shows it killed
        _nav(page, "Controls")
        page.get_by_role("heading", name="Kill switch", exact=True).wait_for()
        _select(page, "Bot", "eth-churn", nth=1)  # the first "Bot" is the pause's
        page.get_by_label("Reason (required)").fill("e2e: runaway bot")
        page.get_by_label("Reason (required)").press("Enter")
        _idle(page)
        page.get_by_text("I confirm: stop trading for this scope").click()
        _idle(page)
        page.get_by_role("button", name="Engage kill switch").click()
        page.get_by_text(re.compile("engaged: kill switch bot eth-churn")).wait_for()
        _shot(page, "06-controls-killed")
        _nav(page, "Overview")
        page.get_by_text(re.compile("killed: 1")).wait_for()
        _shot(page, "07-overview-killed")

        # bot detail and data pages render
        _nav(page, "Bot detail")
        page.get_by_role("heading", name=re.compile("Bot ")).wait_for()
        _select(page, "Bot", "eth-churn")  # the bot that traded: fills on the chart
        page.get_by_role("heading", name="Bot eth-churn").wait_for()
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        _idle(page)
        _shot(page, "08-bot-detail")
        _select(page, "Bot", "eth-meanrev")  # RSI under the candles, its 200-bar SMA over them
        page.get_by_role("heading", name="Bot eth-meanrev").wait_for()
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        page.locator('[data-testid="stPlotlyChart"]').first.get_by_text("rsi_value").wait_for()
        _idle(page)
        _shot(page, "08b-bot-oscillators")
        _nav(page, "Data")
        page.get_by_role("heading", name="Ingest").wait_for()
        _idle(page)
        _shot(page, "09-data")
    finally:
        panel.stop()


def test_the_overview_of_100_bots_renders_in_under_two_seconds(tmp_path, browser):
    fleet = hundred_bot_fleet(tmp_path)
    panel = Panel(fleet, ARTIFACTS / "panel-100.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(panel.url)
        page.get_by_label("Password", exact=True).fill(OPERATOR_PASSWORD)
        began = time.monotonic()
        page.get_by_role("button", name="Log in").click()
        page.get_by_text(re.compile(r"stopped: 90")).wait_for(timeout=60_000)
        cold = time.monotonic() - began  # includes loading the 100 bots' YAML once
        _idle(page)
        _nav(page, "Data")
        page.get_by_role("heading", name="Data", exact=True).wait_for()
        _idle(page)
        timings = []
        for _ in range(3):
            began = time.monotonic()
            _nav(page, "Overview")
            page.get_by_text(re.compile(r"stopped: 90")).wait_for()
            page.locator('[data-testid="stDataFrame"]').wait_for()
            _idle(page)
            timings.append(time.monotonic() - began)
            _nav(page, "Data")
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            _idle(page)
        _nav(page, "Overview")
        page.get_by_text(re.compile(r"stopped: 90")).wait_for()
        _shot(page, "10-overview-100-bots")
        print(f"\n100-bot overview: first render after login {cold:.2f} s, "
              f"page switches {', '.join(f'{t:.2f}' for t in timings)} s")
        assert max(timings) < 2.0, timings
    finally:
        panel.stop()
