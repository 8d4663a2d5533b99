"""Argument checks shared by both backends, so bad input fails the same way on each.

Both implementations call these before touching state: a test suite run over both backends
then also proves that `memory://` refuses exactly what Redis would choke on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from botfleet.bus.errors import BusValueError
from botfleet.bus.event import Event, check_topic

MAX_BLOCK_MS = 30_000  # a blocking read longer than this should be a loop of reads
_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


def name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BusValueError(f"{what} must be a non-empty string (got {value!r})")
    return value


def ttl_ms(ttl_s: object, what: str) -> int:
    """A TTL in whole milliseconds (at least 1)."""
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) \
            or not math.isfinite(ttl_s) or ttl_s <= 0:
        raise BusValueError(f"{what}: ttl_s must be a positive number of seconds (got "
                            f"{ttl_s!r}); a cache entry or lock without expiry could outlive "
                            "its writer forever")
    return max(1, round(ttl_s * 1000))


def count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BusValueError(f"read: count must be a positive int (got {value!r})")
    return value


def block_ms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BLOCK_MS:
        raise BusValueError(f"read: block_ms must be an int from 0 (do not wait) to "
                            f"{MAX_BLOCK_MS} (got {value!r})")
    return value


def topics(values: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = tuple(dict.fromkeys(check_topic(t) for t in values))
    if not out:
        raise BusValueError("read: topics must name at least one topic")
    return out


def channels(values: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = tuple(dict.fromkeys(name(c, "pub/sub channel") for c in values))
    if not out:
        raise BusValueError("subscribe: name at least one channel")
    return out


def refs(values: Iterable[Event | tuple[str, str]]) -> dict[str, list[str]]:
    """Event ids to acknowledge, by topic."""
    if isinstance(values, Event):
        values = (values,)
    by_topic: dict[str, list[str]] = {}
    for ref in values:
        if isinstance(ref, Event):
            topic, entry_id = ref.ref
        elif isinstance(ref, tuple) and len(ref) == 2:
            topic, entry_id = check_topic(ref[0]), name(ref[1], "event id")
            if not _ENTRY_ID.fullmatch(entry_id):
                raise BusValueError(f"ack: {entry_id!r} is not an event id (expected "
                                    "milliseconds-sequence, e.g. '1700000000000-0')")
        else:
            raise BusValueError(f"ack: expected events or (topic, id) pairs, got {ref!r}")
        by_topic.setdefault(topic, []).append(entry_id)
    return by_topic


def start(value: object) -> str:
    if value not in ("earliest", "latest"):
        raise BusValueError(f"create_group: start must be 'earliest' (every retained event) "
                            f"or 'latest' (only events appended from now on), got {value!r}")
    return value  # type: ignore[return-value]


def own_locks(owner, locks, what: str) -> list:
    """`locks` as a list if every one was made by `owner` (a batch runs on one connection and
    one lock table); else a BusValueError naming the first stranger, before anything is
    taken or freed."""
    out = list(locks)
    for i, lock in enumerate(out):
        if getattr(lock, "_owner", None) is not owner:
            raise BusValueError(f"{what}: item {i} ({lock!r:.80}) is not a lock of this bus; "
                                "take it with its own bus, or make it with this bus's lock()")
    return out
