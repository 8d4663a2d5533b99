"""Redis pub/sub: PUBLISH with a short socket timeout; each subscription listens on a thread.

The listener thread owns one pub/sub connection. When the connection drops it reconnects with
a growing pause (0.1 s doubling to 5 s) and, once subscribed again, calls `on_connect`: messages
sent while it was away are lost (pub/sub is at most once), so a subscriber that must not miss a
change (the kill switch) reloads the durable state then. `subscribe` returns when Redis has
confirmed the subscription, so a message published after it returns is delivered; if Redis
cannot be reached it raises `BusConnectionError` instead.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis

from botfleet.bus import checks
from botfleet.bus.api import Message
from botfleet.bus.codec import dumps
from botfleet.bus.errors import BusConnectionError
from botfleet.bus.redis_conn import RedisConn
from botfleet.bus.subscription import QueueSubscription
from botfleet.bus.urls import scrub

log = logging.getLogger(__name__)
POLL_S = 0.05  # how often a listener checks whether it was closed


def decode(data: bytes) -> Any:
    """JSON as sent by `publish`; a message from elsewhere (redis-cli) that is not JSON arrives
    as its text."""
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")


class RedisPubSub:
    def __init__(self, conn: RedisConn, prefix: str):
        self._conn = conn
        self._prefix = prefix  # channels are not keys: "botfleet:kill_switch"
        self._mine: list[QueueSubscription] = []

    def publish(self, channel: str, message: Any) -> int:
        """Send `message` (JSON-able) to `channel`; returns how many subscribers got it."""
        full = self._prefix + checks.name(channel, "pub/sub channel")
        data = dumps(message, f"message on channel {channel!r}")
        with self._conn.guard(f"publish on {channel!r}"):
            return int(self._conn.fast.publish(full, data))

    def subscribe(self, channels: str | Sequence[str],
                  callback: Callable[[Message], None] | None = None, *,
                  on_connect: Callable[[], None] | None = None,
                  ready_timeout_s: float = 5.0) -> QueueSubscription:
        names = checks.channels(channels)
        stopped = threading.Event()
        listeners: list[_Listener] = []

        def stop() -> None:  # returns once Redis has dropped the subscription
            stopped.set()
            if listeners and listeners[0] is not threading.current_thread():
                listeners[0].join(2.0)

        sub = QueueSubscription(names, callback, stop)
        listener = _Listener(self._conn, [self._prefix + c for c in names], len(self._prefix),
                             sub, stopped, on_connect)
        listeners.append(listener)
        listener.start()
        if not listener.ready.wait(ready_timeout_s) or listener.error is not None:
            sub.close()
            why = listener.error or f"no confirmation within {ready_timeout_s} s"
            raise BusConnectionError(f"storage.cache {self._conn.shown}: subscribe to "
                                     f"{', '.join(names)} failed, Redis unreachable ({why})")
        self._mine = [s for s in self._mine if not s.closed] + [sub]
        return sub

    def close(self) -> None:
        for sub in self._mine:
            sub.close()
        self._mine.clear()


class _Listener(threading.Thread):
    def __init__(self, conn: RedisConn, fulls: list[str], strip: int, sub: QueueSubscription,
                 stopped: threading.Event, on_connect: Callable[[], None] | None):
        super().__init__(daemon=True, name=f"bus-listen {','.join(sub.channels)}")
        self.conn, self.fulls, self.strip, self.sub = conn, fulls, strip, sub
        self.stopped, self.on_connect = stopped, on_connect
        self.ready = threading.Event()
        self.error: str | None = None
        self.delay = 0.1

    def run(self) -> None:
        while not self.stopped.is_set():
            pubsub = self.conn.subs.pubsub()
            try:
                pubsub.subscribe(*self.fulls)
                self._listen(pubsub)
            except (redis.RedisError, OSError, ValueError) as exc:
                if self.stopped.is_set():
                    return  # closed while reading: the bus's connections are going away
                why = f"{type(exc).__name__}: {scrub(str(exc), self.conn.url)}"
                if not self.ready.is_set():
                    self.error = why  # the first connection failed: subscribe() raises
                    self.ready.set()
                    return
                log.warning("bus subscription %s lost (%s); reconnecting in %.1f s",
                            ",".join(self.sub.channels), why, self.delay)
                self.stopped.wait(self.delay)
                self.delay = min(self.delay * 2, 5.0)
            finally:
                try:
                    pubsub.close()
                except Exception as exc:  # noqa: BLE001 - closing a connection already dead
                    log.debug("bus subscription: closing the old connection: %s", exc)

    def _listen(self, pubsub) -> None:
        # redis-py may reconnect and resubscribe on its own; each full round of
        # confirmations is a (re)connection, whichever side made it
        waiting = set(self.fulls)
        while not self.stopped.is_set():
            msg = pubsub.get_message(timeout=POLL_S)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                waiting.discard(msg["channel"].decode())
                if not waiting:
                    waiting = set(self.fulls)
                    self._connected()
            elif msg["type"] == "message":
                channel = msg["channel"].decode()[self.strip:]
                self.sub.deliver(Message(channel, decode(msg["data"])))

    def _connected(self) -> None:
        self.delay = 0.1
        if self.on_connect is not None:
            try:
                self.on_connect()
            except Exception:
                log.exception("bus subscription %s: on_connect failed",
                              ",".join(self.sub.channels))
        self.ready.set()
