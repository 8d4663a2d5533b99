"""How values travel through the bus: JSON with Decimals as strings, and bytes as bytes.

Money is a `Decimal` in botfleet and must not pass through a float on its way to a notifier or
the UI, so a Decimal is written as its plain decimal string (`Decimal("0.00000001")` becomes
`"0.00000001"`, never `1E-8` and never `1e-08`) and read back as that string: the reader calls
`Decimal(value)` on the fields it knows are money. NaN and infinities are refused (no price or
amount is NaN, and JSON has no spelling for them), as is anything else JSON cannot carry, with
an error naming where the value was going.

Cache values may also be bytes (a packed candle window): a one-byte tag says which kind a
stored value is, so `get` returns exactly the kind `set` was given. Values without a known tag
(written by another client) come back as raw bytes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botfleet.bus.errors import BusValueError

BYTES_TAG = b"B"
JSON_TAG = b"J"


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Decimal {value} is not a finite number")
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} {value!r:.60} is not JSON-able")


# one encoder for all calls: json.dumps with options builds a new one each time, which was
# half the cost of encoding an order event (5 of 10 us); encode() keeps no state between calls
_ENCODER = json.JSONEncoder(default=_default, allow_nan=False, separators=(",", ":"),
                            ensure_ascii=False)


def dumps(value: Any, where: str) -> str:
    """Compact JSON; `where` (e.g. "event orders.placed/new payload") goes into the error."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise BusValueError(f"{where}: cannot be sent as JSON: {exc} (allowed: dict, list, "
                            "str, int, finite float, bool, None, Decimal)") from None


def loads(data: bytes | str) -> Any:
    return json.loads(data)


def pack(value: Any, where: str) -> bytes:
    """A cache value as tagged bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES_TAG + bytes(value)
    return JSON_TAG + dumps(value, where).encode()


def unpack(data: bytes) -> Any:
    tag, body = data[:1], data[1:]
    if tag == JSON_TAG:
        return json.loads(body)
    if tag == BYTES_TAG:
        return body
    return data
