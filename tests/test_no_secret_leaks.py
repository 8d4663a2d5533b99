"""No planted secret leaves the process in anything botfleet writes.

A live bot trades on the simulator with an API key from the environment and an API secret from
the encrypted secrets file; the state database is PostgreSQL with a password in its URL; the
notifier has a mail channel whose password is in the secrets file, one with a wrong password
and a Telegram channel whose token is in the environment; the bus is also tried on Redis with a
password. Then everything that touches them runs: the command line (validate, explain,
status), a cycle that places orders through ccxt (logged at DEBUG, ccxt's request headers
included), errors that quote the URLs, the bus events, a metrics scrape, the daily report
delivered by mail, a notification, the control panel's pages, and a dump of every table of
the state database. All the text collected (JSON and console logs, stdout/stderr, events,
metrics, report, mail, delivery reasons, UI, database) must hold none of the secrets, while
showing that the work happened (orders filled, a mail arrived, ccxt's requests logged).
"""

from __future__ import annotations

import io
import json
import logging
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from notify_servers import SMTP_PASSWORD, smtp_server  # noqa: F401 - the fixture
from test_runtime_helpers import HOUR, T0, find_close, venue
from typer.testing import CliRunner

from botfleet.obs.logs import install_logging, stream_handler

from stores import PG_URL, pg_available

H = uuid.uuid4().hex[:10]
API_KEY = f"LeakApiKey{H}"
API_SECRET = f"LeakApiSecret{H}"
PG_PASSWORD = f"LeakPgPw{H}"
REDIS_PASSWORD = f"LeakRedisPw{H}"
BAD_SMTP_PASSWORD = f"LeakBadSmtp{H}"
TG_TOKEN = f"987654321:AA{H}{'x' * (33 - len(H))}"
PLANTED = {"api key": API_KEY, "api secret": API_SECRET, "pg password": PG_PASSWORD,
           "redis password": REDIS_PASSWORD, "smtp password": SMTP_PASSWORD,
           "bad smtp password": BAD_SMTP_PASSWORD, "telegram token": TG_TOKEN,
           "telegram token's secret half": TG_TOKEN.split(":")[1]}

FLEET = """
kind: fleet
version: 1
name: leak
storage:
  state: "postgresql+psycopg://postgres:${{env:LEAK_PG_PASSWORD}}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
  candles: "sqlite:///candles.db"
  cache: "memory://"
capital: {{currency: USDT, total: 10000}}
defaults: {{exchange: binance, timeframe: 1h, mode: live}}
secrets: {{provider: file, file: secrets.enc, key_env: LEAK_SECRETS_KEY}}
logging: {{level: debug, levels: {{ccxt: debug, urllib3: debug, apprise: debug}}}}
exchanges:
  - name: binance
    ccxt_id: binance
    api_url: "{venue}"
    credentials: {{api_key: "${{env:LEAK_API_KEY}}", secret: "${{secret:exchange-secret}}"}}
strategies:
  - name: updown
    entry: close > open
    exit: close < open
    stops: {{stop_loss: 3%}}
    sizing: {{method: fixed_quote, value: 200}}
notifiers: [notifiers.d/*.yaml]
bots: [bots.d/*.yaml]
"""
NOTIFIER = """
kind: notifier
version: 1
name: ops
channels:
  mail: {{url: "mailto://bot:${{secret:smtp-password}}@127.0.0.1:{port}?from=bf@example.org&to=ops@example.org&mode=insecure", retries: 0}}
  badmail: {{url: "mailto://bot:${{env:LEAK_BAD_SMTP}}@127.0.0.1:{port}?from=bf@example.org&to=ops@example.org&mode=insecure", retries: 0}}
  tg: {{url: "tgram://${{env:LEAK_TG_TOKEN}}/-100123", retries: 0}}
routes:
  - {{events: [daily_report, error, kill_switch], channels: [mail, badmail, tg]}}
"""
BOT = """
kind: bot
version: 1
name: a
pairs: [BTC/USDT]
strategy: updown
capital: {allocation: 1000}
"""


@pytest.fixture
def pg_schema():
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    schema = f"t_leak_{uuid.uuid4().hex[:10]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def captured():
    """JSON and console log output of everything, at DEBUG; restored afterwards."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    json_out, console_out = io.StringIO(), io.StringIO()
    yield json_out, console_out
    for h in [h for h in root.handlers if h not in before[1]]:
        root.removeHandler(h)
    root.setLevel(before[0])


def _capture_into(fleet, json_out, console_out) -> None:
    install_logging(fleet, stream=json_out, json=True)
    logging.getLogger().addHandler(stream_handler(console_out, json=False))


def _write(root: Path, schema: str, venue_url: str, smtp_port: int) -> Path:
    (root / "bots.d").mkdir(parents=True)
    (root / "notifiers.d").mkdir()
    (root / "fleet.yaml").write_text(textwrap.dedent(FLEET).format(schema=schema,
                                                                   venue=venue_url).lstrip())
    (root / "notifiers.d" / "ops.yaml").write_text(
        textwrap.dedent(NOTIFIER).format(port=smtp_port).lstrip())
    (root / "bots.d" / "a.yaml").write_text(textwrap.dedent(BOT).lstrip())
    return root / "fleet.yaml"


def _db_dump(state_url: str) -> str:
    import sqlalchemy as sa

    from botfleet.storage.db import state_engine

    engine = state_engine(state_url)
    out = []
    with engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        assert len(meta.sorted_tables) > 5
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                out.append(f"{table.name}: {tuple(row)!r}")
    engine.dispose()
    return "\n".join(out)


def _ui_text(fleet_file: Path, monkeypatch) -> str:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("BOTFLEET_UI_FLEET", str(fleet_file))
    monkeypatch.setenv("BOTFLEET_UI_NO_AUTH", "1")
    app = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    shown = []
    for page in ("overview", "bot", "config", "controls"):
        at = AppTest.from_file(str(app), default_timeout=90)
        at.session_state["bot"] = "a"
        at.run()
        at.switch_page(f"views/{page}.py")
        at.run()
        assert not at.exception, (page, at.exception)
        shown += [str(node.proto) for node in at._tree.main if hasattr(node, "proto")]
        shown += [repr(node) for node in at._tree.main]
    return "\n".join(shown)


def test_planted_secrets_appear_nowhere(tmp_path, monkeypatch, pg_schema, smtp_server,  # noqa: F811
                                        captured, capsys):
    from botfleet.bus import open_bus
    from botfleet.bus.event import Event, to_fields
    from botfleet.cli import app
    from botfleet.config.secrets import EncryptedFileStore, generate_key
    from botfleet.runtime.connect import remote_connection
    from botfleet.runtime.reload import load_checked
    from botfleet.runtime.runner import FleetRunner, RunnerOptions

    json_out, console_out = captured
    monkeypatch.setenv("LEAK_SECRETS_KEY", generate_key())
    monkeypatch.setenv("LEAK_API_KEY", API_KEY)
    monkeypatch.setenv("LEAK_PG_PASSWORD", PG_PASSWORD)
    monkeypatch.setenv("LEAK_BAD_SMTP", BAD_SMTP_PASSWORD)
    monkeypatch.setenv("LEAK_TG_TOKEN", TG_TOKEN)
    texts: dict[str, str] = {}
    server = venue()
    try:
        server.add_account("leak", {"USDT": "5000"}, api_key=API_KEY, secret=API_SECRET)
        path = _write(tmp_path, pg_schema, server.base_url, smtp_server.port)
        store = EncryptedFileStore(tmp_path / "secrets.enc", "LEAK_SECRETS_KEY")
        store.set("exchange-secret", API_SECRET)
        store.set("smtp-password", SMTP_PASSWORD)
        assert API_SECRET.encode() not in (tmp_path / "secrets.enc").read_bytes()

        # the command line, in this process (its logging is the one captured)
        cli = CliRunner()
        for args in (["validate", str(path)], ["config", "explain", "a", "--fleet", str(path)],
                     ["secrets", "list", "--fleet", str(path)]):
            out = cli.invoke(app, args)
            assert out.exit_code == 0, out.output
            texts[" ".join(args[:2])] = out.output

        # a live cycle on the simulator with the resolved credentials, logged at debug
        load = load_checked(path)
        assert load.ok, [str(p) for p in load.errors]
        fleet = load.fleet
        _capture_into(fleet, json_out, console_out)
        up = find_close(server, "BTC/USDT", T0 + HOUR, True)
        server.set_time(up)
        conn = remote_connection(server.base_url, fleet, [fleet.bots["a"]])
        runner = FleetRunner(load, conn, bots=["a"], mode="live", options=RunnerOptions(
            workers=1, reload_every_s=0, reconcile_wait_s=0)).start()
        try:
            (result,) = runner.run_once(now_ms=up)
        finally:
            runner.shutdown(5)
        assert result.outcome == "ok", result.error
        assert result.orders and result.orders[0].status.name == "FILLED"  # the keys worked

        # errors quoting the URLs: a database that is not there, a Redis refusing the password
        log = logging.getLogger("botfleet.test.leaks")
        from botfleet.storage.db import state_engine, transaction

        try:
            with transaction(state_engine(fleet.storage.state.replace(":5432", ":1"))):
                pass
        except Exception as exc:
            log.exception("state database failed")
            texts["state error"] = f"{exc!r} {exc}"
        monkeypatch.setenv("LEAK_REDIS_PASSWORD", REDIS_PASSWORD)
        try:
            open_bus("redis://:${env:LEAK_REDIS_PASSWORD}@127.0.0.1:6379/0").ping()
        except Exception as exc:
            log.exception("bus failed")
            texts["redis error"] = f"{exc!r} {exc}"
        try:
            raise ConnectionError(f"cannot reach postgresql://postgres:{PG_PASSWORD}@db/x "
                                  f"with key {API_KEY}")
        except ConnectionError:
            log.exception("raised with the secrets in the message")
        status = cli.invoke(app, ["status", "--fleet", str(path), "--state",
                                  f"postgresql+psycopg://postgres:{PG_PASSWORD}@127.0.0.1:1/x"])
        texts["cli status error"] = status.output
        assert status.exit_code != 0

        # the bus: every event the cycle emitted, and one with the secrets on a real Redis
        events = open_bus("memory://").events.read(f"leak-{H}", "c", count=100_000)
        assert any(e.correlation_id == result.correlation_id for e in events)
        texts["events"] = "\n".join(json.dumps(to_fields(e)) for e in events)
        redis_bus = open_bus("redis://127.0.0.1:6379/0", prefix=f"leak{H}")
        try:
            redis_bus.ping()
        except Exception as exc:  # noqa: BLE001
            pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {exc}")
        try:
            redis_bus.events.append(Event("risk.alerts", "error", {
                "bot": "a", "error": f"redis://:{REDIS_PASSWORD}@h failed, key {API_KEY}"}))
            import redis

            raw = redis.Redis.from_url("redis://127.0.0.1:6379/0")
            keys = raw.keys(f"leak{H}*")
            assert keys
            texts["redis stream"] = repr([raw.xrange(k) for k in keys])
            raw.delete(*keys)
        finally:
            redis_bus.purge()
            redis_bus.close()

        # metrics, the daily report (mailed), one notification through every channel
        from prometheus_client import generate_latest

        from botfleet.obs.metrics import REGISTRY

        texts["metrics"] = generate_latest(REGISTRY).decode()
        from botfleet.jobs.report import report_period
        from botfleet.notify import send_message

        row = report_period(fleet, "daily", now=datetime.fromtimestamp((up + HOUR) / 1000, UTC),
                            pdf=False)
        texts["report row"] = repr(row)
        texts["report html"] = Path(row["path"]).read_text()
        assert row["sent"] == ["mail"], row
        report = send_message(fleet, "test", f"ping from {fleet.name}")
        assert report.sent == ["mail"] and set(report.failed) == {"badmail", "tg"}, report
        texts["delivery"] = repr(report)
        mails = smtp_server.wait(2)
        texts["mails"] = "\n".join(f"{m.subject}\n{m.body}" for m in mails)

        texts["ui"] = _ui_text(path, monkeypatch)
        assert "Fleet overview" in texts["ui"]
        texts["state database"] = _db_dump(fleet.storage.state)
    finally:
        server.stop()

    out, err = capsys.readouterr()
    texts["stdout"], texts["stderr"] = out, err
    texts["json log"], texts["console log"] = json_out.getvalue(), console_out.getvalue()
    lines = [json.loads(ln) for ln in texts["json log"].splitlines()]
    assert any(ln["logger"].startswith("ccxt") for ln in lines), "ccxt's debug lines missing"
    assert "***" in texts["json log"] and "***" in texts["console log"]
    assert "ping from leak" in texts["mails"]
    leaks = [f"{what} in {where}" for where, text in texts.items()
             for what, secret in PLANTED.items() if secret in text]
    assert not leaks, leaks
