"""The bus's small interfaces (cache, locks, pub/sub, events); each has a Redis and an
in-process implementation.

Callers type against these protocols and get an implementation from `open_bus(url)`, so a bot
runs the same code with `storage.cache: memory://` (one process, nothing to install) and with
`redis://…` (many processes and hosts). The in-process implementations are thread-safe and
reach every thread of the process, and no further: that is all the embedded default promises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from botfleet.bus.event import Event
from botfleet.bus.topics import TOPICS


class Cache(Protocol):
    """A TTL cache of bytes or JSON-able values (tickers, the hot window of candles). A value
    lives at most `ttl_s` seconds; `get` of a missing or expired key returns `default`."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any, ttl_s: float) -> None: ...
    def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...
    def set_many(self, values: Mapping[str, Any], ttl_s: float) -> None: ...
    def delete(self, *keys: str) -> int: ...


class Lock(Protocol):
    """A named lock with a TTL, held by one object at a time. `acquire` never waits; a holder
    that crashes frees the lock when the TTL runs out; `release` and `extend` work only for the
    holder (a token check), so a holder whose TTL ran out cannot free a lock another took
    since. `with lock:` raises `LockBusy` when the lock is taken and releases on exit."""

    name: str
    ttl_s: float

    def acquire(self) -> bool: ...
    def release(self) -> bool: ...
    def extend(self, ttl_s: float | None = None) -> bool: ...
    @property
    def held(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


class Locks(Protocol):
    """Lock holders, and many of them taken or freed in one round trip: a close of 100 bots
    takes 100 `cycle:<bot>` locks, and on Redis one round trip each was most of the close's
    read phase. `acquire_many`/`release_many` do for each lock exactly what its own
    `acquire`/`release` would (same TTL, token and owner check), each lock on its own (not
    all or none), and answer which, in order. They take only holders this object made
    (`lock`): another bus's lock could live on another server."""

    def lock(self, name: str, ttl_s: float) -> Lock: ...
    def acquire_many(self, locks: Sequence[Lock]) -> list[bool]: ...
    def release_many(self, locks: Sequence[Lock]) -> list[bool]: ...


@dataclass(frozen=True)
class Message:
    channel: str
    data: Any


class Subscription(Protocol):
    """Messages of some channels, from the moment `subscribe` returned. Without a callback they
    are read with `get`/iteration; with one, the callback runs on the subscription's own
    thread. Delivery is at most once: a message sent while the subscriber is away is lost."""

    channels: tuple[str, ...]

    def get(self, timeout_s: float | None = None) -> Message | None: ...
    def __iter__(self) -> Iterator[Message]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


class PubSub(Protocol):
    """Fire-and-forget messages (control commands, "the kill switch changed")."""

    def publish(self, channel: str, message: Any) -> int: ...
    def subscribe(self, channels: str | Sequence[str],
                  callback: Callable[[Message], None] | None = None, *,
                  on_connect: Callable[[], None] | None = None) -> Subscription: ...


class EventStream(Protocol):
    """Durable topics read by consumer groups: each group sees every event; within a group
    each event goes to one consumer and is handed out again (to a restarted consumer of the
    same name at once, to any consumer of the group once it has been pending `claim_idle_ms`)
    until acknowledged. Order holds within a topic; `count` is per topic."""

    def append(self, event: Event) -> str: ...
    def append_many(self, events: Iterable[Event]) -> list[str]: ...
    def create_group(self, group: str, *, topics: Sequence[str] = TOPICS,
                     start: str = "earliest") -> None: ...
    def read(self, group: str, consumer: str, count: int = 100, block_ms: int = 0, *,
             topics: Sequence[str] = TOPICS) -> list[Event]: ...
    def ack(self, group: str, refs: Iterable[Event | tuple[str, str]]) -> int: ...
    def length(self, topic: str) -> int: ...
    def pending(self, group: str, topic: str) -> int: ...
