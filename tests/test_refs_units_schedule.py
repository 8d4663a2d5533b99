"""Secret references, values with units, and the schedule language."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from croniter import croniter

from botfleet.config.refs import Secret, SecretMissing, reference_problems, resolve
from botfleet.config.schedule import ScheduleError, parse_schedule
from botfleet.config.units import (
    Percent,
    duration_seconds,
    parse_amount_or_percent,
    parse_percent,
    parse_rate,
    resolve_amount,
    timeframe_seconds,
)
from botfleet.config.yamlfile import parse_document


def test_env_and_secret_file_references_resolve_at_use(tmp_path: Path):
    (tmp_path / "smtp_url").write_text("mailtos://u:p@host\n", encoding="utf-8")
    text = "k=${env:KEY};u=${secret:smtp_url}"
    assert resolve(text, env={"KEY": "abc"}, secrets_dir=tmp_path) == "k=abc;u=mailtos://u:p@host"


def test_missing_reference_names_the_reference_never_a_value(tmp_path: Path):
    with pytest.raises(SecretMissing, match="environment variable NOPE is not set"):
        resolve("${env:NOPE}", env={}, secrets_dir=tmp_path)
    with pytest.raises(SecretMissing, match="secret 'gone' not found"):
        resolve("${secret:gone}", env={}, secrets_dir=tmp_path)


def test_secret_repr_shows_the_reference_only():
    s = Secret("${env:BINANCE_API_SECRET}")
    assert "BINANCE_API_SECRET" in repr(s) and str(s) == repr(s)
    assert s.reveal(env={"BINANCE_API_SECRET": "hunter2"}) == "hunter2"
    assert "hunter2" not in repr(s)
    assert s == Secret("${env:BINANCE_API_SECRET}") and len({s, Secret(s.ref)}) == 1


@pytest.mark.parametrize("yaml_text, fragment", [
    ("token: abc123\n", "literal secret in YAML under 'token'"),
    ("db_password: hunter2\n", "literal secret in YAML under 'db_password'"),
    ("note: Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z\n", "looks like a literal API key"),
    ("url: postgresql://bot:hunter2@db/x\n", "literal password in a URL"),
    ("url: ${vault:X}\n", "invalid reference '${vault:X}'"),
    ("url: ${env:X\n", "unclosed reference"),
])
def test_literal_secrets_and_bad_references_are_refused(yaml_text, fragment):
    problems = []
    doc = parse_document(yaml_text, Path("x.yaml"), "x.yaml", problems)
    found = reference_problems(doc)
    assert any(fragment in str(p) for p in found), found
    assert all(p.line == 1 for p in found)


@pytest.mark.parametrize("yaml_text", [
    "token: ${env:TG_TOKEN}\n",
    "url: postgresql://bot:${env:PGPASSWORD}@db/x\n",
    "entry: crosses_above(fast_ma, slow_ma) and close > trend\n",
    "pairs: [BTC/USDT]\n",
])
def test_references_and_ordinary_text_pass(yaml_text):
    problems = []
    doc = parse_document(yaml_text, Path("x.yaml"), "x.yaml", problems)
    assert reference_problems(doc) == []


def test_units():
    assert parse_percent("2.5%") == Percent(Decimal("0.025"))
    assert str(Percent(Decimal("0.025"))) == "2.5%"
    assert parse_amount_or_percent(500) == Decimal(500)
    assert resolve_amount("30%", Decimal(10000)) == Decimal(3000)
    assert resolve_amount("30%", None) is None
    assert duration_seconds("5m") == 300 and duration_seconds("250ms") == Decimal("0.25")
    assert timeframe_seconds("4h") == 14400 and timeframe_seconds("1M") == 30 * 86400
    assert parse_rate("10/1m") == (10, 60) and parse_rate("100/h") == (100, 3600)
    for bad, fn in (("2.5", parse_percent), ("5x", duration_seconds), ("1y", timeframe_seconds),
                    ("10 per m", parse_rate)):
        with pytest.raises(ValueError):
            fn(bad)


@pytest.mark.parametrize("text, interval, cron, tz", [
    ("every 5m", 300, None, "UTC"),
    ("hourly", None, "0 * * * *", "UTC"),
    ("daily 08:00 Europe/Berlin", None, "0 8 * * *", "Europe/Berlin"),
    ("weekly mon 7:30", None, "30 7 * * MON", "UTC"),
    ("0 3 * * SUN", None, "0 3 * * SUN", "UTC"),
    ("*/15 * * * * America/New_York", None, "*/15 * * * *", "America/New_York"),
])
def test_schedules_become_intervals_or_cron(text, interval, cron, tz):
    s = parse_schedule(text)
    assert (s.interval, s.cron, s.timezone) == (interval, cron, tz)
    if cron:
        assert croniter.is_valid(cron)


def test_on_candle_close():
    assert parse_schedule("on_candle_close").on_candle_close


@pytest.mark.parametrize("text, fragment, hint", [
    ("every 5x", "'5x' is not a duration", "every 30s"),
    ("every 0s", "at least 1s", None),
    ("daily 25:00", "not a time of day", "HH:MM"),
    ("weekly FUNDAY 08:00", "not a day", "MON"),
    ("daily 08:00 Europe/Berln", "unknown timezone", "did you mean 'Europe/Berlin'?"),
    ("0 3 * * FUNDAY", "not a valid cron expression", "five fields"),
    ("sometimes", "is not a schedule", "every 5m"),
    ("", "empty schedule", None),
])
def test_bad_schedules_explain_themselves(text, fragment, hint):
    with pytest.raises(ScheduleError) as err:
        parse_schedule(text)
    assert fragment in str(err.value)
    if hint:
        assert hint in err.value.hint
