"""The shipped Prometheus and Grafana files: promtool accepts the config and the rules, every
alert fires in its unit test (deploy/prometheus/alerts_test.yml), every expression names
metrics botfleet exports, and a real Prometheus server scrapes a real `/metrics` endpoint and
fires an alert from it (skipped, saying why, where the Debian `prometheus` package is absent).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from botfleet.obs import metrics as m

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NAME = re.compile(r"\b(botfleet_[a-z0-9_]+|up)\b")
need_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed "
                                   "(Debian package `prometheus`)")


def promtool(*args: str, cwd: Path = PROM) -> str:
    done = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@need_promtool
def test_promtool_accepts_the_rules_and_the_config():
    assert "SUCCESS: 10 rules found" in promtool("check", "rules", "alerts.yml")
    assert "is valid prometheus config file syntax" in promtool("check", "config",
                                                                "prometheus.yml")


@need_promtool
def test_every_alert_fires_in_its_promtool_unit_test():
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")
    rules = {r["alert"] for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
             for r in g["rules"]}
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    fired = {t["alertname"] for case in tests for t in case["alert_rule_test"]
             if t.get("exp_alerts")}
    assert rules == fired, f"alerts without a firing test: {sorted(rules - fired)}"
    assert {"BotfleetDrawdownHigh", "BotfleetDailyLossHigh", "BotfleetCircuitBreakerOpen",
            "BotfleetKillSwitchEngaged", "BotfleetDataStale", "BotfleetExchangeErrorRate",
            "BotfleetReconciliationMismatch", "BotfleetBotDown"} <= rules


def exprs_of_dashboards() -> list[tuple[str, str]]:
    out = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
        for var in board["templating"]["list"]:
            out.append((f"{path.name}: ${var['name']}", var["definition"]))
    return out


def test_every_expression_names_metrics_botfleet_exports():
    known = m.metric_names() | {"up"}
    rules = [(r["alert"], r["expr"]) for g in yaml.safe_load(
        (PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    exprs = rules + exprs_of_dashboards()
    assert len(exprs) > 50
    for where, expr in exprs:
        names = set(NAME.findall(expr))
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= known, f"{where}: {sorted(names - known)} not exported"


def test_the_grafana_files_are_provisionable():
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/botfleet.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    boards = {p.name: json.loads(p.read_text())
              for p in (GRAFANA / "dashboards").glob("*.json")}
    assert set(boards) == {"fleet-overview.json", "bot.json"}
    assert len({b["uid"] for b in boards.values()}) == 2
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in board["panels"]:
            if p["type"] != "row":
                assert p["datasource"]["uid"] == uid, (name, p["title"])
                assert 0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
    (bot_var,) = boards["bot.json"]["templating"]["list"]
    assert bot_var["name"] == "bot"
    per_bot = [e for where, e in exprs_of_dashboards()
               if where.startswith("bot.json: ") and "$bot" not in where]
    assert per_bot and all('="$bot"' in e for e in per_bot)  # every panel: the chosen bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(base: str, promql: str) -> list:
    url = f"{base}/api/v1/query?query={urllib.parse.quote(promql)}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]


def wait_for(fn, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = fn()
            if got:
                return got
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout_s} s")
        time.sleep(0.2)


@pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus server binary is not installed "
                    "(Debian package `prometheus`); test_obs_metrics parses /metrics instead")
def test_a_real_prometheus_scrapes_the_endpoint_and_fires_an_alert(tmp_path):
    bot = f"p{uuid.uuid4().hex[:6]}"
    m.set_gauge(m.EQUITY, 1234.5, bot)
    target = f"k{uuid.uuid4().hex[:6]}"
    m.set_gauge(m.KILL_SWITCH_STATE, 1.0, "bot", target, "flatten")
    srv = m.serve_http(0)
    shutil.copy(PROM / "alerts.yml", tmp_path / "alerts.yml")
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["scrape_configs"] = [{"job_name": "botfleet", "static_configs": [
        {"targets": [f"127.0.0.1:{srv.port}"]}]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        got = wait_for(lambda: query(base, f'botfleet_equity{{bot="{bot}"}}'))
        assert float(got[0]["value"][1]) == 1234.5
        up = wait_for(lambda: query(base, 'up{job="botfleet"}'))
        assert up[0]["value"][1] == "1"
        with urllib.request.urlopen(base + "/api/v1/rules", timeout=5) as resp:
            groups = json.loads(resp.read())["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 10 and all(r["health"] == "ok" for r in rules), rules

        def firing():
            with urllib.request.urlopen(base + "/api/v1/alerts", timeout=5) as resp:
                alerts = json.loads(resp.read())["data"]["alerts"]
            return [a for a in alerts if a["labels"].get("target") == target
                    and a["state"] == "firing"]

        (alert,) = wait_for(firing)
        assert alert["labels"]["alertname"] == "BotfleetKillSwitchEngaged"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        srv.stop()
        m.set_gauge(m.KILL_SWITCH_STATE, 0.0, "bot", target, "flatten")
