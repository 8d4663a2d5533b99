"""Secret masking: no key, token or password leaves the process in text botfleet writes.

References keep secrets out of the YAML, but a resolved value still travels: a ccxt error can
quote the request headers, a driver's error quotes its URL, an Apprise failure names the URL it
could not reach. Rather than trusting every call site, text on its way out (log records,
exception messages printed by the CLI, notification bodies, reports) goes through `mask`:

- every value `register_secret` was given (each `${env:..}` / `${secret:..}` value and each
  exchange credential registers itself when it is resolved) is replaced by `***`, together
  with its URL-encoded spelling, since a password is usually quoted inside a URL;
- patterns catch what was never registered: the password of a URL's userinfo
  (`postgresql://u:PASS@`, `redis://:PASS@`, `mailtos://user:PASS@`), Telegram bot tokens,
  the token part of Apprise URLs (`tgram://TOKEN/...`, `discord://ID/TOKEN`...), bearer
  tokens, and `apiKey=..`, `"secret": ".."`, `password: '..'` key/value pairs.

`mask` is on the hot path of every log line, so the common case is cheap: one combined regex
for the registered values (rebuilt only when a value is added) and one for the patterns, each
preceded by a substring test that skips the regex when it cannot match.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words and digits everywhere

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None

# schemes whose whole path is a credential (the Apprise services that put tokens in the path)
_TOKEN_SCHEMES = frozenset((
    "tgram", "discord", "slack", "msteams", "pover", "pushover", "pbul", "gotify", "gotifys",
    "matrix", "matrixs", "ntfy", "ntfys", "rocket", "rockets", "mmost", "mmosts", "join",
    "ifttt", "signal", "signals", "zulip", "line", "spush", "twist", "whatsapp", "opsgenie",
    "pagerduty", "pushed", "ryver", "sns", "json", "jsons", "xml", "xmls", "form", "forms"))
_SECRET_KEY = re.compile(r"(?i)(?:api[_-]?key|apikey|secret|password|passwd|passphrase|token|"
                         r"private[_-]?key|access[_-]?key|signature|credentials?)$")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_URL_REST = re.compile(r"[^\s'\"<>]*+")
_USERINFO = re.compile(r"^([^/?#@:]*):[^/?#]*@")  # to the last '@' of the authority
_TELEGRAM = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])")
_TELEGRAM_HINT = re.compile(r":[A-Za-z0-9_-]{35}")  # a literal first character: a fast scan
# lower-case text holds one of these, or no key/value pattern can match (most log lines)
_KEYWORD = re.compile(r"key|secret|passw|passphrase|token|signature|credential")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_PAIR_SEP = re.compile(r"\s*+([=:])\s*+([\"']?)")
_VALUE = re.compile(r"[^\s\"'&,;)}\]]*+")


# The two scans below start from their anchors ('://' found with str.find, the few places a
# secret-sounding word occurs) and look around them, instead of a regex trying every position
# of the line: a 280-character ccxt request line cost ~100 us that way, ~11 us now.

def _mask_urls(text: str) -> str:
    """scheme://user:PASSWORD@ -> scheme://user:***@; a token scheme's whole path -> ***."""
    out, last, i = [], 0, text.find("://")
    while i != -1:
        j = i
        while j > 0 and text[j - 1] in _SCHEME_CHARS:
            j -= 1
        end = _URL_REST.match(text, i + 3).end()
        scheme, rest = text[j:i], text[i + 3:end]
        if scheme and scheme[0].isalpha() and rest:
            if scheme.lower() in _TOKEN_SCHEMES:
                new = f"{scheme}://{MASK}"
            else:
                new = f"{scheme}://" + _USERINFO.sub(lambda u: f"{u.group(1)}:{MASK}@", rest)
            out += (text[last:j], new)
            last = end
        i = text.find("://", max(end, i + 3))
    return "".join(out) + text[last:] if out else text


def _mask_pairs(text: str, low: str) -> str:
    """`apiKey=v`, `password = 'v'`, `&signature=v`, `"apiKey": "v"`, `'X-MBX-APIKEY': 'v'`:
    the value of a key that ends in a secret-sounding word, found from the (few) places such a
    word occurs. A colon pair counts only with both key and value quoted (JSON, a dict's repr),
    so prose like `credentials.secret: variable X is not set` is left readable."""
    out, last, n = [], 0, len(text)
    for hit in _KEYWORD.finditer(low):
        if hit.start() < last:
            continue
        a, b = hit.start(), hit.end()
        while a > 0 and text[a - 1] in _KEY_CHARS:
            a -= 1
        while b < n and text[b] in _KEY_CHARS:
            b += 1
        if not _SECRET_KEY.search(text, a, b):
            continue
        quoted = 0 < a and b < n and text[a - 1] in "'\"" and text[b] == text[a - 1]
        sep = _PAIR_SEP.match(text, b + 1 if quoted else b)
        if sep is None or (sep.group(1) == ":" and not (quoted and sep.group(2))):
            continue
        start, q = sep.end(), sep.group(2)
        end = text.find(q, start) if q else _VALUE.match(text, start).end()
        if end <= start:
            continue
        out += (text[last:start], MASK)
        last = end
    return "".join(out) + text[last:] if out else text


def register_secret(value: str | None) -> None:
    """From now on, `value` (and its URL-encoded spellings) is masked wherever it appears,
    and every log record of the process is masked as it is created."""
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1]}
    with _lock:
        global _secret_re
        new = forms - _secrets
        if not new:
            return
        _secrets.update(new)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))
    # a process that holds a secret masks its log records from now on, even if nobody called
    # install_logging (a Prefect worker's flow run, a library user's own logging setup)
    install_record_masking()


def register_secrets(values: Iterable[str]) -> None:
    for value in values:
        register_secret(value)


def forget_secrets() -> None:
    """Drop every registered value (for tests that plant secrets of their own)."""
    global _secret_re
    with _lock:
        _secrets.clear()
        _secret_re = None


def registered_count() -> int:
    return len(_secrets)


def mask(text: str) -> str:
    """`text` with every registered secret and every credential-looking pattern as `***`."""
    if not text:
        return text
    if not isinstance(text, str):
        text = str(text)
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if "://" in text:
        text = _mask_urls(text)
    if _TELEGRAM_HINT.search(text):
        text = _TELEGRAM.sub(MASK, text)
    low = text.lower()
    if ("=" in text or ":" in text) and _KEYWORD.search(low):
        text = _mask_pairs(text, low)
        low = text.lower()
    if "bearer " in low or "basic " in low:
        text = _BEARER.sub(r"\1 " + MASK, text)
    return text


def mask_value(value: Any) -> Any:
    """`mask` applied to every string inside dicts, lists and tuples (event payloads, extras)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_value(v) for v in value)
    return value


# the attributes every LogRecord has; anything else was passed as `extra=`
STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "correlation_id", "bot", "order_id", "_botfleet_masked",
    "_botfleet_extras_masked"}


def _mask_core(record: logging.LogRecord) -> None:
    """The message with its arguments, the exception and its traceback, the stack."""
    if getattr(record, "_botfleet_masked", False):
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):  # a bad format string: keep the line
        message = f"{record.msg!s} {record.args!r}"
    record.msg, record.args = mask(message), None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # logging.Formatter uses exc_text when set, so the masked text is what is printed
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    record._botfleet_masked = True


class MaskingFilter(logging.Filter):
    """Masks a record in place before its handler formats it: the message with its arguments,
    the exception and its traceback, the stack, and every `extra=` string. Never drops.

    The record is shared by all handlers of a logger, so each part is done once (marked)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_core(record)
        if not getattr(record, "_botfleet_extras_masked", False):
            for key, value in list(record.__dict__.items()):
                if key not in STANDARD_ATTRS and isinstance(value, (str, dict, list, tuple)):
                    setattr(record, key, mask_value(value))
            record._botfleet_extras_masked = True
        return True


def install_record_masking() -> None:
    """Mask every log record as it is created, whoever handles it later: a handler another
    library attaches after botfleet set up logging (Prefect's, which ships flow-run logs to
    its server and UI) gets the masked message and traceback too. `extra=` fields are set
    after creation, so the filter on each handler still masks those."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "botfleet_masking", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.msg or record.exc_info:
            _mask_core(record)
        return record

    factory.botfleet_masking = True
    logging.setLogRecordFactory(factory)


def mask_exception(exc: BaseException) -> str:
    """The one-line text of an exception, masked: what the CLI prints for a failure."""
    return mask(str(exc) or type(exc).__name__)
