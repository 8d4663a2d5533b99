"""One channel at work: its outbox, its sender, its health, and the thread that delivers.

Each channel delivers on its own thread, so a slow or dead channel (an SMTP server that takes
ten seconds to time out, three retries with backoff) delays only its own messages. A channel
that gives up on a message logs the masked reason, counts it, and - the first time it fails
after working - asks the notifier to tell the operators on another channel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from botfleet.notify.channels import ChannelSpec
from botfleet.notify.deliver import Sender
from botfleet.notify.limits import QuietHours, TokenBucket
from botfleet.notify.notice import RANK
from botfleet.notify.outbox import Delivery, Item, Outbox
from botfleet.notify.stats import Stats

log = logging.getLogger(__name__)
MAX_WAIT_S = 1.0  # re-check at least this often (quiet hours end, the clock moves)


class ChannelWorker:
    def __init__(self, spec: ChannelSpec, quiet: QuietHours | None, now: float, *,
                 sender: Sender | None, stats: Stats,
                 on_failure: Callable[[ChannelWorker, str, Delivery], None]):
        self.spec, self.sender, self.stats = spec, sender, stats
        rate = spec.rate_limit
        self.outbox = Outbox(spec.batch_window_s, spec.dedup_window_s,
                             TokenBucket(rate[0], float(rate[1]), now) if rate else None, quiet)
        self.on_failure = on_failure
        self.healthy = True
        self.last_error = ""
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        self.busy = False

    @property
    def key(self) -> str:
        return self.spec.key

    def add(self, item: Item, now: float) -> str:
        with self.cond:
            outcome = self.outbox.add(item, now)
            self.cond.notify()
        return outcome

    def take_due(self, now: float, drain: bool = False) -> list[Delivery]:
        with self.cond:
            out = self.outbox.due(now)
            if drain:
                out += self.outbox.drain()
            self.busy = bool(out)
            return out

    def deliver(self, d: Delivery) -> bool:
        severity = max((i.severity for i in d.items), key=lambda s: RANK.get(s, 1))
        ok, reason = self.sender.send(d.title, d.body, d.attachments, severity)
        if ok:
            self.stats.count_sent(self.key)
            if not self.healthy:
                log.info("notification channel %r delivers again", self.key)
            self.healthy, self.last_error = True, ""
            return True
        self.stats.count_failed(self.key)
        log.warning("notification channel %r could not deliver %r (%d message(s)): %s",
                    self.key, d.title[:80], len(d.items), reason)
        was_healthy, self.healthy, self.last_error = self.healthy, False, reason
        if was_healthy and not d.alert_only:
            self.on_failure(self, reason, d)
        return False

    def run(self, clock: Callable[[], float], stopping: threading.Event) -> None:
        while True:
            with self.cond:
                now = clock()
                nxt = self.outbox.next_due(now)
                if not stopping.is_set() and (nxt is None or nxt > now):
                    wait = MAX_WAIT_S if nxt is None else min(MAX_WAIT_S, nxt - now)
                    self.cond.wait(wait)
            stop = stopping.is_set()
            for d in self.take_due(clock(), drain=stop):
                self.deliver(d)
            self.busy = False
            if stop:
                return
