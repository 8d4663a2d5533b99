"""Counters of the notifier: what came in, what was dropped, what each channel sent or failed.

Kept as plain numbers for tests, the bench and `botfleet notify run`'s summary, and mirrored
into the Prometheus counters of `botfleet.obs.metrics` (sent and failed, by channel).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from botfleet.obs import metrics


@dataclass
class Stats:
    submitted: int = 0
    dropped: int = 0  # the queue was full: the oldest non-critical event made room
    repeated: int = 0  # an event id already handled (a redelivery)
    unrouted: int = 0  # no route matched
    routed: int = 0
    sent: Counter = field(default_factory=Counter)  # channel -> deliveries
    failed: Counter = field(default_factory=Counter)  # channel -> deliveries given up
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_sent(self, channel: str) -> None:
        with self.lock:
            self.sent[channel] += 1
        metrics.NOTIFICATIONS_SENT.labels(channel).inc()

    def count_failed(self, channel: str) -> None:
        with self.lock:
            self.failed[channel] += 1
        metrics.NOTIFICATION_FAILURES.labels(channel).inc()
