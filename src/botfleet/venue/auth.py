"""Signed requests checked exactly as Binance checks them (HMAC-SHA256, `X-MBX-APIKEY`).

A broker that signs wrongly, or lets its timestamps drift, must fail here as it would on the real
exchange, with the same codes: the signature is HMAC-SHA256 (hex) keyed by the account's secret
over `totalParams` = the raw query string concatenated with the raw request body (both without
the `signature` parameter itself, no separator between them, as Binance documents); the request
`timestamp` must be within `recvWindow` ms (default 5000, at most 60000) behind the server and at
most 1000 ms ahead of it.

The timestamp is compared with the WALL clock, not the venue's replay clock: the receive window
bounds network delay, which happens in real time whatever the replay speed (a bot replaying at
3600x would otherwise miss every window).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from botfleet.data.candles import now_ms
from botfleet.venue import binance_format as fmt
from botfleet.venue.accounts import KEY_FORMAT, Account, Accounts

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
AHEAD_MS = 1000


def strip_signature(raw: str) -> tuple[str, str | None]:
    """(the parameters without `signature=…`, the signature) of a raw urlencoded string."""
    kept, signature = [], None
    for part in raw.split("&") if raw else ():
        if part.startswith("signature="):
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


def sign(secret: str, total_params: str) -> str:
    """What a client sends as `signature` (for tests and tools that sign by hand)."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def authenticate(accounts: Accounts, headers, raw_query: str, raw_body: str,
                 params: dict[str, str], *, wall_ms: Callable[[], int] = now_ms) -> Account:
    """The account a signed request acts for, or the BinanceError the exchange would answer."""
    key = headers.get("X-MBX-APIKEY")
    if not key or not KEY_FORMAT.match(key):
        raise fmt.BinanceError(-2014, "API-key format invalid.", status=401)
    account = accounts.by_key(key)
    if account is None:
        raise fmt.BinanceError(-2015, "Invalid API-key, IP, or permissions for action.",
                               status=401)
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    signature = sig_q or sig_b
    if not signature:
        raise fmt.missing_param("signature")
    if not params.get("timestamp"):
        raise fmt.missing_param("timestamp")
    timestamp = _int(params, "timestamp")
    window = _int(params, "recvWindow") if params.get("recvWindow") else DEFAULT_RECV_WINDOW
    if window > MAX_RECV_WINDOW:
        raise fmt.BinanceError(-1131, f"recvWindow must be less than {MAX_RECV_WINDOW}")
    expected = sign(account.secret, query + body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise fmt.BinanceError(-1022, "Signature for this request is not valid.")
    now = wall_ms()
    if timestamp >= now + AHEAD_MS:
        raise fmt.BinanceError(-1021, f"Timestamp for this request was {AHEAD_MS}ms ahead of "
                                      "the server's time.")
    if now - timestamp > window:
        raise fmt.BinanceError(-1021, "Timestamp for this request is outside of the "
                                      "recvWindow.")
    return account


def _int(params: dict[str, str], name: str) -> int:
    raw = params[name]
    if not raw.isdigit() or len(raw) > 20:
        raise fmt.illegal_chars(name)
    return int(raw)
