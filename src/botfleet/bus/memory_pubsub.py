"""In-process pub/sub: every `memory://` bus of the process shares one table of subscribers,
so a publish on one thread reaches subscriptions on every other thread of the process (and no
other process: there the state database, reloaded at each cycle, carries the change).

A message is encoded to JSON on publish and decoded for each subscriber, as over Redis: a
subscriber never shares a mutable object with the publisher, and what Redis would refuse is
refused here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from botfleet.bus import checks
from botfleet.bus.api import Message
from botfleet.bus.codec import dumps, loads
from botfleet.bus.subscription import QueueSubscription

_subscribers: dict[str, list[QueueSubscription]] = {}  # full channel -> subscriptions
_lock = threading.Lock()


def purge(prefix: str) -> int:
    with _lock:
        gone = [s for ch, subs in _subscribers.items() if ch.startswith(prefix) for s in subs]
    for sub in gone:
        sub.close()
    return len(gone)


class MemoryPubSub:
    def __init__(self, prefix: str):
        self._prefix = prefix  # channels are not keys: "botfleet:kill_switch"
        self._mine: list[QueueSubscription] = []

    def publish(self, channel: str, message: Any) -> int:
        """Hand `message` to every current subscriber of `channel`; returns how many."""
        full = self._prefix + checks.name(channel, "pub/sub channel")
        data = dumps(message, f"message on channel {channel!r}")
        with _lock:
            subs = list(_subscribers.get(full, ()))
        for sub in subs:
            sub.deliver(Message(channel, loads(data)))
        return len(subs)

    def subscribe(self, channels: str | Sequence[str],
                  callback: Callable[[Message], None] | None = None, *,
                  on_connect: Callable[[], None] | None = None) -> QueueSubscription:
        names = checks.channels(channels)
        fulls = [self._prefix + c for c in names]
        sub: QueueSubscription

        def unsubscribe() -> None:
            with _lock:
                for full in fulls:
                    subs = _subscribers.get(full, [])
                    if sub in subs:
                        subs.remove(sub)
                    if not subs:
                        _subscribers.pop(full, None)

        sub = QueueSubscription(names, callback, unsubscribe)
        self._mine = [s for s in self._mine if not s.closed]
        with _lock:
            for full in fulls:
                _subscribers.setdefault(full, []).append(sub)
        self._mine.append(sub)
        if on_connect is not None:
            on_connect()
        return sub

    def close(self) -> None:
        for sub in self._mine:
            sub.close()
        self._mine.clear()
