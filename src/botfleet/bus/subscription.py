"""The subscriber's side of pub/sub, shared by both backends.

A backend hands each message to `deliver`; the subscriber reads them from a bounded queue, or
a thread of the subscription passes them to its callback. Keeping the subscriber's thread off
the publisher's path means a slow callback never delays the publisher (in Redis terms: never
delays the listener reading the socket), and both backends behave alike.

The queue holds at most `max_queued` messages; beyond that the oldest is dropped with a
warning. Pub/sub is at most once anyway, and a stuck reader must not grow memory forever.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Self

from botfleet.bus.api import Message
from botfleet.bus.errors import BusError

log = logging.getLogger(__name__)
_CLOSED = object()


class QueueSubscription:
    def __init__(self, channels: tuple[str, ...], callback: Callable[[Message], None] | None,
                 on_close: Callable[[], None], max_queued: int = 10_000):
        self.channels = channels
        self.dropped = 0
        self._callback = callback
        self._on_close = on_close
        self._queue: queue.Queue = queue.Queue(max_queued)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        if callback is not None:
            self._thread = threading.Thread(target=self._dispatch, daemon=True,
                                            name=f"bus-sub {','.join(channels)}")
            self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def deliver(self, message: Message) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                    log.warning("bus subscription %s: reader is behind, dropped the oldest "
                                "message (%d so far)", ",".join(self.channels), self.dropped)
                except queue.Empty:
                    pass

    def get(self, timeout_s: float | None = None) -> Message | None:
        """The next message, or None after `timeout_s` (None: wait until one comes or the
        subscription closes)."""
        if self._callback is not None:
            raise BusError("this subscription hands messages to its callback; get() is for "
                           "subscriptions opened without one")
        if self._closed.is_set() and self._queue.empty():
            return None
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # let other waiting readers see it too
            return None
        return item

    def __iter__(self) -> Iterator[Message]:
        while (message := self.get()) is not None:
            yield message

    def _dispatch(self) -> None:
        while (item := self._queue.get()) is not _CLOSED:
            try:
                self._callback(item)  # type: ignore[misc]
            except Exception:
                log.exception("bus subscription %s: callback failed", ",".join(self.channels))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._on_close()
        while True:
            try:
                self._queue.put_nowait(_CLOSED)
                break
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
