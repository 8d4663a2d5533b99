"""The notifier as a reader of the bus: a consumer group over every topic.

Several notifier processes may share one group (each event goes to one of them). An event is
acknowledged once it is routed into the channels' outboxes, not when it is delivered: a
message held for the night or for a batch window would otherwise stay pending for hours and be
handed to another consumer. Redeliveries are dropped by event id (in the process, and across
processes through the bus cache), so the same fill never pings a phone twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from botfleet.bus import TOPICS, BusError
from botfleet.notify.notifier import Notifier

log = logging.getLogger(__name__)


def default_consumer() -> str:
    return f"notifier-{socket.gethostname()}-{os.getpid()}"


def run_notifier(fleet, bus, *, group: str = "notifier", consumer: str | None = None,
                 stop: threading.Event | None = None, notifier: Notifier | None = None,
                 block_ms: int = 1000, batch: int = 100) -> Notifier:
    """Read the event stream until `stop` is set; returns the (stopped) notifier."""
    consumer = consumer or default_consumer()
    stop = stop or threading.Event()
    notifier = notifier or Notifier.from_fleet(fleet, bus=bus)
    notifier.start()
    log.info("notifier: reading %s as %s/%s", bus.url, group, consumer)
    try:
        while not stop.is_set():
            try:
                events = bus.events.read(group, consumer, count=batch, block_ms=block_ms,
                                         topics=TOPICS)
            except BusError as exc:
                log.warning("notifier: cannot read the event stream (%s); retrying", exc)
                stop.wait(1.0)
                continue
            if not events:
                continue
            for event in events:
                notifier.submit(event)
            notifier.process()  # route now, so the ack below follows the routing
            try:
                bus.events.ack(group, events)
            except BusError as exc:
                log.warning("notifier: cannot acknowledge %d event(s) (%s); they will come "
                            "back and be recognised by id", len(events), exc)
    finally:
        notifier.stop()
    return notifier


class NotifierThread:
    """`run_notifier` on a daemon thread of this process: how a fleet runner with
    `storage.cache: memory://` gets its notifications (no other process can read that bus)."""

    def __init__(self, fleet, bus, **options):
        self.stop_event = threading.Event()
        self.notifier = Notifier.from_fleet(fleet, bus=bus)
        self.thread = threading.Thread(
            target=run_notifier, args=(fleet, bus), name="notifier", daemon=True,
            kwargs={"stop": self.stop_event, "notifier": self.notifier, **options})

    def start(self) -> NotifierThread:
        self.thread.start()
        return self

    def stop(self, timeout_s: float = 10) -> None:
        self.stop_event.set()
        self.thread.join(timeout_s)
