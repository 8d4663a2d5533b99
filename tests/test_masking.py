"""Secret masking: the patterns, registered values, and the logging filter on real handlers."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest

from botfleet.obs.logs import ConsoleFormatter, ContextFilter, JsonFormatter
from botfleet.obs.masking import (
    MASK,
    MaskingFilter,
    forget_secrets,
    mask,
    mask_exception,
    mask_value,
    register_secret,
)

TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture(autouse=True)
def _clean_registry():
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(("text", "secret"), [
    ("postgresql+psycopg://bob:hunter2x@db:5432/x", "hunter2x"),
    ("postgres://bob:p%40ss%3Aword@db/x", "p%40ss%3Aword"),
    ("postgresql://bob:p@ss@db:5432/x?sslmode=require", "p@ss"),
    ("redis://:redispw99@127.0.0.1:6379/0", "redispw99"),
    ("rediss://default:redispw99@cache:6380", "redispw99"),
    ("mailtos://alerts:SmtpPa55@smtp.example.com?to=ops@example.com", "SmtpPa55"),
    (f"tgram://{TG_TOKEN}/-100123", TG_TOKEN),
    (f"GET https://api.telegram.org/bot{TG_TOKEN}/getUpdates failed", TG_TOKEN),
    (f"token {TG_TOKEN} rejected", TG_TOKEN),
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "JHMHI8qBe7bk2ZwO5U711o3dV_js"),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
     "TIiajkdnlazkcOXrIdevi7FQ"),
    ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi", "azGDORePK8gMaC"),
    ('{"apiKey": "k3yK3yK3y", "symbol": "BTC/USDT"}', "k3yK3yK3y"),
    ("{'X-MBX-APIKEY': 'vmPUZE6mv9SD5VNHk4', 'Content-Type': 'json'}", "vmPUZE6mv9SD5VNHk4"),
    ("GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=8f3a9b0c1d", "8f3a9b0c1d"),
    ("apiKey=AbC123xyz&secret=SeCrEt987", "AbC123xyz"),
    ("apiKey=AbC123xyz&secret=SeCrEt987", "SeCrEt987"),
    ("password = 'hunter2x' in config", "hunter2x"),
    ("client_secret='s3cr3tv4lue'", "s3cr3tv4lue"),
    ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.SflKxwRJ", "eyJhbGciOi"),
])
def test_credential_patterns_are_masked_without_registration(text, secret):
    out = mask(text)
    assert secret not in out, out
    assert MASK in out


@pytest.mark.parametrize("text", [
    "2024-01-01T00:00:00Z info [a 1234abcd] botfleet.runtime.cycle: cycle done in 12 ms",
    "bought 0.01 BTC/USDT at 60123.5 fee=0.06 (client id bf-a-1-ab)",
    "http://127.0.0.1:8000/api/v3/klines?symbol=BTCUSDT&interval=1h",
    "sqlite:////tmp/state.db",
    "credentials.secret: environment variable BINANCE_SECRET is not set",
    "postgresql+psycopg://bob@db:5432/x",
])
def test_ordinary_text_is_left_alone(text):
    assert mask(text) == text


def test_registered_values_are_masked_in_every_spelling():
    value = "p@ss w/rd:\"q\"-" + uuid.uuid4().hex[:6]
    register_secret(value)
    from urllib.parse import quote, quote_plus

    for spelling in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]):
        assert mask(f"before {spelling} after") == f"before {MASK} after"


def test_short_values_are_not_registered_and_forget_clears():
    register_secret("abc")
    assert mask("abc") == "abc"
    register_secret("LongEnoughValue1")
    assert mask("x LongEnoughValue1") == f"x {MASK}"
    forget_secrets()
    assert mask("x LongEnoughValue1") == "x LongEnoughValue1"


def test_the_longest_registered_value_wins():
    register_secret("abcd1234")
    register_secret("abcd1234WXYZ")
    assert mask("k=abcd1234WXYZ!") == f"k={MASK}!"  # no trailing 'WXYZ' left visible


def test_mask_value_walks_payloads_and_mask_exception():
    register_secret("PlantedValue42")
    got = mask_value({"a": ["x PlantedValue42", ("PlantedValue42", 3)], "b": 1.5})
    assert got == {"a": [f"x {MASK}", (MASK, 3)], "b": 1.5}
    assert mask_exception(ValueError("redis://:PlantedValue42@h down")) == "redis://:***@h down"
    assert mask_exception(KeyError()) == "KeyError"


def _logger_with(fmt: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(MaskingFilter())
    handler.setFormatter(fmt)
    logger = logging.getLogger(f"test.masking.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger, stream


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter(),
                                       logging.Formatter("%(message)s %(detail)s")])
def test_the_filter_masks_message_args_exception_stack_and_extras(formatter):
    register_secret("RegisteredS3cret")
    logger, stream = _logger_with(formatter)
    try:
        raise ConnectionError("cannot reach postgresql://u:UrlPassw0rd@db/x "
                              "(key RegisteredS3cret)")
    except ConnectionError:
        logger.exception("opening %s failed for %s", "redis://:ArgPassw0rd@r:6379",
                         "RegisteredS3cret", extra={"detail": "token=ExtraT0ken1",
                                                    "nested": {"k": "RegisteredS3cret"}},
                         stack_info=True)
    out = stream.getvalue()
    for secret in ("RegisteredS3cret", "UrlPassw0rd", "ArgPassw0rd", "ExtraT0ken1"):
        assert secret not in out, out
    assert "ConnectionError" in out and "Traceback" in out  # the traceback is still there
    assert "opening redis://:***@r:6379 failed" in out


def test_json_lines_stay_valid_json_after_masking():
    register_secret('quote"and\\back')
    logger, stream = _logger_with(JsonFormatter())
    logger.info('value quote"and\\back here', extra={"apiKey": "zz"})
    line = json.loads(stream.getvalue())
    assert line["message"] == f"value {MASK} here"


def test_a_record_is_masked_once_for_all_handlers():
    register_secret("OnceOnlySecret9")
    a, b = io.StringIO(), io.StringIO()
    logger = logging.getLogger(f"test.masking.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    for stream in (a, b):
        handler = logging.StreamHandler(stream)
        handler.addFilter(MaskingFilter())
        logger.addHandler(handler)
    logger.warning("x %s", "OnceOnlySecret9")
    assert a.getvalue() == b.getvalue() == f"x {MASK}\n"


def test_registering_a_secret_masks_records_for_handlers_botfleet_never_saw():
    code = ("import io, logging\n"
            "out = io.StringIO()\n"
            "logging.basicConfig(stream=out, level=logging.INFO, format='%(message)s')\n"
            "from botfleet.config.refs import resolve\n"
            "resolve('${env:LEAK_T}')\n"
            "logging.getLogger('x').info('value %s', 'NeverInstalled99')\n"
            "print(out.getvalue().strip())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True,
                          env={**os.environ, "LEAK_T": "NeverInstalled99"})
    assert done.stdout.strip() == "value ***"
