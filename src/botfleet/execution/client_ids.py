"""Deterministic client order ids: the same (bot, cycle key, intent key) always gives the same id.

This is what makes a retry or a restart unable to place an order twice. A cycle that crashed
after sending is re-run with the same cycle key (by default the candle time it acts on); its
strategy produces the same intents, hence the same client ids; the ledger finds them already
recorded (`Ledger.record_intent` returns the stored order) and the exchange refuses a duplicate
client id, so whichever side remembers, the order exists once.

Scheme (version 1): `"bf" + base32(blake2b(json([tag, bot, cycle_key, intent_key])))[:30]`,
lower case. That is 32 characters of `[a-z2-7]` after the prefix `bf`:
- within Binance's `newClientOrderId` (`^[a-zA-Z0-9-_]{1,36}$`) and also OKX's `clOrdId`
  (alphanumeric, at most 32), Bybit's `orderLinkId` (36) and similar limits, so one scheme
  serves every exchange ccxt reaches;
- 150 bits of a cryptographic hash: two different intents share an id with probability about
  n² / 2¹⁵¹ — negligible for any number of orders a fleet will ever place;
- the JSON encoding of the parts keeps ("a-b", "c") and ("a", "b-c") apart;
- the prefix tells botfleet's orders from ones placed by hand on the same account.

The id carries no readable information on purpose (the parts can be long and contain any
character); the ledger stores bot, cycle key and intent key next to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

PREFIX = "bf"
LENGTH = 32
BINANCE_PATTERN = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")  # what Binance accepts
PATTERN = re.compile(rf"^{PREFIX}[a-z2-7]{{{LENGTH - len(PREFIX)}}}$")  # what this module makes
_TAG = "botfleet-client-order-id/1"


def _part(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"client order id: {name} must be a non-empty string, "
                         f"got {value!r}")
    return value


def client_order_id(bot: str, cycle_key: str, intent_key: str) -> str:
    """The client order id of the order `intent_key` of bot `bot` in the cycle `cycle_key`
    (e.g. bot "btc-trend", cycle key "1718236800000", intent key "entry:BTC/USDT")."""
    parts = [_TAG, _part("bot", bot), _part("cycle key", cycle_key),
             _part("intent key", intent_key)]
    digest = hashlib.blake2b(json.dumps(parts).encode(), digest_size=20).digest()
    return PREFIX + base64.b32encode(digest).decode().lower()[:LENGTH - len(PREFIX)]


def is_botfleet_id(text: str) -> bool:
    """True when `text` has the shape of an id made here (for telling our orders from others
    on an account during reconciliation)."""
    return bool(PATTERN.match(text))
