"""The background notifier: the trading loop hands it events and never waits for it.

`submit` only appends to a bounded in-memory queue (a lock and a deque: microseconds). A
dispatcher thread turns events into notices, drops repeats of an event id (delivery on the bus
is at least once), routes them, renders each notifier's template and puts the message in each
channel's outbox; one thread per channel delivers through Apprise. When the queue is full the
oldest non-critical event makes room (counted in `stats.dropped`): a flood of fills must not
push out a kill-switch alert, and must not grow memory without bound either.

For tests and tools the same work runs synchronously: `process(now)` routes what is queued,
`pump(now)` delivers what is due, both with an injected clock.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Self

from botfleet.bus import BusError, Event
from botfleet.notify.deliver import Sender
from botfleet.notify.notice import Notice, from_event
from botfleet.notify.outbox import Delivery, Item
from botfleet.notify.plan import NotifyPlan
from botfleet.notify.stats import Stats
from botfleet.notify.templates import render
from botfleet.notify.worker import ChannelWorker

log = logging.getLogger(__name__)
SEEN_TTL_S = 7 * 86400


class Notifier:
    def __init__(self, plan: NotifyPlan, *, bus=None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, queue_size: int = 10_000,
                 backoff_s: float = 0.5, jitter: Callable[[], float] = random.random,
                 seen_size: int = 100_000):
        self.plan, self.bus, self.clock = plan, bus, clock
        self.stats = Stats()
        self.queue_size, self.seen_size = queue_size, seen_size
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._route_lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._stop_dispatch = threading.Event()
        self._stop_channels = threading.Event()
        self._threads: list[threading.Thread] = []
        now = clock()
        self.channels: dict[str, ChannelWorker] = {}
        for key, spec in plan.channels.items():
            sender = Sender(spec, sleep=sleep, backoff_s=backoff_s, jitter=jitter) \
                if spec.enabled else None
            self.channels[key] = ChannelWorker(spec, plan.quiet.get(spec.notifier), now,
                                               sender=sender, stats=self.stats,
                                               on_failure=self._channel_failed)

    @classmethod
    def from_fleet(cls, fleet, bus=None, **options) -> Notifier:
        return cls(NotifyPlan.from_fleet(fleet), bus=bus, **options)

    # -- the caller's side: never blocks ------------------------------------------------------

    def submit(self, event: Event | Notice) -> None:
        with self._cond:
            self.stats.submitted += 1
            if len(self._queue) >= self.queue_size:
                self._make_room(event)
            self._queue.append(event)
            self._cond.notify()

    def _make_room(self, new) -> None:
        self.stats.dropped += 1
        for i, queued in enumerate(self._queue):
            if not _critical(queued):
                del self._queue[i]
                return
        self._queue.popleft()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Notifier:
        if self._threads:
            return self
        t = threading.Thread(target=self._dispatch_loop, name="notify-dispatch", daemon=True)
        self._threads.append(t)
        for ch in self.channels.values():
            if ch.sender is not None:
                ch.thread = threading.Thread(target=ch.run, name=f"notify-{ch.key}",
                                             args=(self.clock, self._stop_channels),
                                             daemon=True)
                self._threads.append(ch.thread)
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout_s: float = 5) -> None:
        """Route what is queued, send what waits (as one digest per channel), then stop; a
        channel still busy after `timeout_s` is left to finish on its daemon thread."""
        end = time.monotonic() + timeout_s
        self._stop_dispatch.set()
        with self._cond:
            self._cond.notify_all()
        if not self._threads:  # never started: do the same work on this thread
            self.process()
            for ch in self.channels.values():
                if ch.sender is not None:
                    for d in ch.take_due(self.clock(), drain=True):
                        ch.deliver(d)
            return
        self._threads[0].join(max(0.0, end - time.monotonic()))
        self._stop_channels.set()
        for ch in self.channels.values():
            with ch.cond:
                ch.cond.notify_all()
        for t in self._threads[1:]:
            t.join(max(0.0, end - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("notifier: %s still delivering after %.1f s; not waiting longer",
                        ", ".join(alive), timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the work -------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stop_dispatch.is_set(), 1.0)
                stopping = self._stop_dispatch.is_set()
            try:
                self.process()
            except Exception:
                log.exception("notifier: routing failed; the events in hand are lost")
            if stopping:
                with self._cond:
                    if not self._queue:
                        return

    def process(self, now: float | None = None) -> int:
        """Route everything queued into the channels' outboxes; how many were routed."""
        with self._route_lock:  # the dispatcher and a bus reader may both call this
            with self._cond:
                batch, self._queue = list(self._queue), deque()
            notices = self._fresh([e if isinstance(e, Notice) else from_event(e)
                                   for e in batch])
            t = self.clock() if now is None else now
            for notice in notices:
                self._route(notice, t)
            self._remember([n.key for n in notices if n.key])
            return len(notices)

    def _route(self, notice: Notice, now: float) -> None:
        keys = self.plan.router.channels(notice)
        if not keys:
            self.stats.unrouted += 1
            return
        self.stats.routed += 1
        rendered: dict[str, tuple[str, str]] = {}
        for key in keys:
            ch = self.channels[key]
            if ch.sender is None:
                continue
            if ch.spec.notifier not in rendered:
                rendered[ch.spec.notifier] = render(
                    notice, self.plan.templates.get(ch.spec.notifier))
            title, body = rendered[ch.spec.notifier]
            ch.add(Item(notice.event_type, notice.severity, notice.bot, title, body,
                        notice.attachments, notice.alert), now)

    def pump(self, now: float | None = None) -> list[tuple[str, Delivery, bool]]:
        """Deliver what is due on every channel, on this thread: (channel, delivery, ok)."""
        t = self.clock() if now is None else now
        out = []
        for _ in range(3):  # a failure alert lands in another outbox: give it a turn
            round_ = [(ch, d) for ch in self.channels.values() if ch.sender is not None
                      for d in ch.take_due(t)]
            for ch, d in round_:
                out.append((ch.key, d, ch.deliver(d)))
                ch.busy = False
            if not round_:
                break
        return out

    def _channel_failed(self, ch: ChannelWorker, reason: str, d: Delivery) -> None:
        worst = "critical" if any(i.critical for i in d.items) else "error"
        title = f"botfleet: notification channel {ch.key} is failing"
        body = (f"Channel {ch.key} could not deliver {d.title!r} ({len(d.items)} message(s)) "
                f"after {ch.spec.retries} retries: {reason}. Its messages are dropped until "
                "it delivers again; see the notifier's log.")
        for key in self.plan.fallbacks(ch.key):
            other = self.channels[key]
            if other.sender is not None and other.healthy:
                other.add(Item("error", worst, None, title, body, alert=True), self.clock())
                return
        log.error("notification channel %r is failing and no other channel works to say so",
                  ch.key)

    # -- idempotency by event id ------------------------------------------------------------------

    def _fresh(self, notices: list[Notice]) -> list[Notice]:
        keys = [n.key for n in notices if n.key]
        stored: set = set()
        if self.bus is not None and keys:
            try:
                stored = set(self.bus.cache.get_many([_seen_key(k) for k in keys]))
            except BusError as exc:
                log.warning("notifier: cannot check event ids on the bus (%s); a redelivered "
                            "event may be sent twice", exc)
        out, batch_seen = [], set()
        for n in notices:
            if n.key and (n.key in self._seen or _seen_key(n.key) in stored
                          or n.key in batch_seen):
                self.stats.repeated += 1
                continue
            if n.key:
                batch_seen.add(n.key)
            out.append(n)
        return out

    def _remember(self, keys: list[tuple[str, str]]) -> None:
        for k in keys:
            self._seen[k] = None
        while len(self._seen) > self.seen_size:
            self._seen.popitem(last=False)
        if self.bus is not None and keys:
            try:
                self.bus.cache.set_many({_seen_key(k): 1 for k in keys}, ttl_s=SEEN_TTL_S)
            except BusError as exc:
                log.warning("notifier: cannot record event ids on the bus (%s)", exc)


def _seen_key(key: tuple[str, str]) -> str:
    return f"notify:seen:{key[0]}:{key[1]}"


def _critical(queued) -> bool:
    if isinstance(queued, Notice):
        return queued.critical
    try:
        return from_event(queued).critical
    except Exception:  # noqa: BLE001 - an odd event is simply not critical
        return False
