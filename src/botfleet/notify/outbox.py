"""One channel's waiting room: dedup, batch windows, quiet hours and the rate limit.

Pure bookkeeping over an explicit `now` (no threads, no clock, no I/O): the notifier's channel
worker adds rendered messages and asks `due(now)` what to send, and `next_due(now)` how long
it may sleep. The rules, in the order a message meets them:

1. dedup: a message identical (event type, bot, body) to one accepted within `dedup_window`
   is dropped and counted;
2. critical messages go out at once: no quiet hours, batch or rate limit holds them (they use
   a rate-limit token if one is left, so the bucket still counts them);
3. during quiet hours other messages are held, and released as one digest when they end;
4. with a `batch_window`, messages collect from the first one for that long, then go as one
   digest;
5. the rate limit: each message (or digest) takes a token; when the tokens run out, what waits
   goes as a single digest with the next token, so nothing is dropped and the channel never
   sees more than its limit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from botfleet.notify.limits import QuietHours, TokenBucket
from botfleet.notify.notice import RANK

DIGEST_LINES = 40


@dataclass(frozen=True)
class Item:
    event_type: str
    severity: str
    bot: str | None
    title: str
    body: str
    attachments: tuple[Path, ...] = ()
    alert: bool = False

    @property
    def critical(self) -> bool:
        return self.severity == "critical"


@dataclass
class Delivery:
    """One message to hand to Apprise: a single item, or a digest of several."""

    title: str
    body: str
    items: list[Item]
    attachments: tuple[Path, ...] = ()

    @property
    def digest(self) -> bool:
        return len(self.items) > 1

    @property
    def alert_only(self) -> bool:
        return all(i.alert for i in self.items)


def single(item: Item) -> Delivery:
    return Delivery(item.title, item.body, [item], item.attachments)


def digest(items: list[Item], why: str) -> Delivery:
    if len(items) == 1:
        return single(items[0])
    kinds = Counter(i.event_type for i in items)
    worst = max(items, key=lambda i: RANK.get(i.severity, 0)).severity
    title = f"botfleet: {len(items)} notifications ({why})"
    lines = [", ".join(f"{k} x{n}" for k, n in kinds.most_common()), ""]
    for i in items[:DIGEST_LINES]:
        text = i.body.splitlines()[0] if i.body else ""
        lines.append(f"- [{i.severity}] {i.title}: {text}")
    if len(items) > DIGEST_LINES:
        lines.append(f"... and {len(items) - DIGEST_LINES} more (highest severity: {worst})")
    files = tuple(dict.fromkeys(a for i in items for a in i.attachments))
    return Delivery(title, "\n".join(lines), list(items), files)


@dataclass
class Outbox:
    batch_window_s: float | None = None
    dedup_window_s: float = 300.0
    bucket: TokenBucket | None = None
    quiet: QuietHours | None = None
    urgent: list[Item] = field(default_factory=list)
    ready: list[Delivery] = field(default_factory=list)
    batch: list[Item] = field(default_factory=list)
    batch_opened: float | None = None
    held: list[Item] = field(default_factory=list)
    seen: dict[tuple, float] = field(default_factory=dict)
    duplicates: int = 0

    def add(self, item: Item, now: float) -> str:
        """Accept a message: 'duplicate', 'urgent', 'held', 'batched' or 'ready'."""
        if self.dedup_window_s > 0:
            key = (item.event_type, item.bot, item.title, item.body)
            if self.seen.get(key, -1.0) > now:
                self.duplicates += 1
                return "duplicate"
            if len(self.seen) > 10_000:
                self.seen = {k: t for k, t in self.seen.items() if t > now}
            self.seen[key] = now + self.dedup_window_s
        if item.critical:
            self.urgent.append(item)
            return "urgent"
        if self.quiet is not None and self.quiet.active(now):
            self.held.append(item)
            return "held"
        if self.batch_window_s:
            if not self.batch:
                self.batch_opened = now
            self.batch.append(item)
            return "batched"
        self.ready.append(single(item))
        return "ready"

    def due(self, now: float) -> list[Delivery]:
        """What to send now, in order; the rest stays for a later call."""
        out = [single(i) for i in self.urgent]
        self.urgent = []
        if self.bucket is not None:
            for _ in out:
                self.bucket.take(now)
        quiet = self.quiet is not None and self.quiet.active(now)
        if self.held and not quiet:
            self.ready.append(digest(self.held, "held during quiet hours"))
            self.held = []
        if self.batch and now >= (self.batch_opened or now) + (self.batch_window_s or 0):
            if quiet:
                self.held.extend(self.batch)
            else:
                self.ready.append(digest(self.batch, "batch window"))
            self.batch, self.batch_opened = [], None
        if self.bucket is None:
            out += self.ready
            self.ready = []
            return out
        tokens = self.bucket.available(now)
        if tokens <= 0 or not self.ready:
            return out
        if len(self.ready) > tokens:  # the last token carries all that waits, as one digest
            rest = [i for d in self.ready[tokens - 1:] for i in d.items]
            self.ready = self.ready[:tokens - 1] + [digest(rest, "rate limit")]
        for d in self.ready:
            self.bucket.take(now)
            out.append(d)
        self.ready = []
        return out

    def next_due(self, now: float) -> float | None:
        """The earliest time `due` may return something (None: nothing is waiting)."""
        times = []
        if self.urgent:
            times.append(now)
        if self.ready:
            times.append(now if self.bucket is None else self.bucket.next_token_at(now))
        if self.batch:
            times.append((self.batch_opened or now) + (self.batch_window_s or 0))
        if self.held:
            times.append(self.quiet.ends_at(now) if self.quiet is not None else now)
        return min(times) if times else None

    def drain(self) -> list[Delivery]:
        """Everything still waiting, as one digest (the notifier is stopping)."""
        items = ([i for d in self.ready for i in d.items] + self.batch + self.held
                 + self.urgent)
        self.ready, self.batch, self.held, self.urgent = [], [], [], []
        self.batch_opened = None
        return [digest(items, "sent on shutdown")] if items else []

    @property
    def waiting(self) -> int:
        return (len(self.urgent) + sum(len(d.items) for d in self.ready) + len(self.batch)
                + len(self.held))
