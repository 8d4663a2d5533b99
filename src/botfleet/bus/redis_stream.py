"""The Redis event stream: one Redis Stream per topic, XADD with approximate MAXLEN, and
consumer groups read with XREADGROUP, handed over with XAUTOCLAIM, acknowledged with XACK.

A read goes in three steps and returns after the first that yields events:

1. the consumer's own backlog (XREADGROUP from id 0): events handed to a consumer of this name
   that were never acknowledged, i.e. its predecessor crashed or was stopped mid-batch; read
   once per consumer object, page by page, until empty;
2. events another consumer of the group left pending longer than `claim_idle_ms`
   (XAUTOCLAIM, pipelined over the topics, at most every `claim_idle_ms / 2`, capped at 5 s);
3. new events (XREADGROUP `>`), waiting up to `block_ms` on the client whose socket timeout
   allows it (appends use the short-timeout client, so they never wait that long).

Events in steps 1 and 2 come back with `redelivered=True`. An event that was trimmed away while
pending is dropped from the pending list (it is gone); an entry that is not a botfleet event
(written by another tool) is logged, acknowledged and skipped, so it cannot block the group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import redis

from botfleet.bus import checks
from botfleet.bus.errors import BusValueError
from botfleet.bus.event import Event, from_fields, to_fields
from botfleet.bus.redis_conn import RedisConn
from botfleet.bus.topics import TOPICS

log = logging.getLogger(__name__)


class RedisEventStream:
    def __init__(self, conn: RedisConn, prefix: str, maxlen: int, claim_idle_ms: int | None):
        self._conn = conn
        self._prefix = prefix + "events:"
        self.maxlen = maxlen
        self.claim_idle_ms = claim_idle_ms
        self._groups: set[tuple[str, str]] = set()  # (group, topic) known to exist
        self._cursors: dict[tuple[str, str, str], str | None] = {}  # backlog; None: drained
        self._claimed_at: dict[str, float] = {}

    def _key(self, topic: str) -> str:
        return self._prefix + topic

    def append(self, event: Event) -> str:
        key, fields = self._key(event.topic), to_fields(event)
        with self._conn.guard(f"append to {event.topic!r}"):
            return self._conn.fast.xadd(key, fields, maxlen=self.maxlen,
                                        approximate=True).decode()

    def append_many(self, events: Iterable[Event]) -> list[str]:
        """Append in one round trip (a pipeline); returns the ids in order."""
        encoded = [(self._key(e.topic), to_fields(e)) for e in events]
        if not encoded:
            return []
        with self._conn.guard(f"append of {len(encoded)} event(s)"):
            pipe = self._conn.fast.pipeline(transaction=False)
            for key, fields in encoded:
                pipe.xadd(key, fields, maxlen=self.maxlen, approximate=True)
            return [i.decode() for i in pipe.execute()]

    def create_group(self, group: str, *, topics: Sequence[str] = TOPICS,
                     start: str = "earliest") -> None:
        checks.name(group, "consumer group")
        start_id = "0" if checks.start(start) == "earliest" else "$"
        with self._conn.guard(f"create group {group!r}"):
            self._create(group, checks.topics(topics), start_id)

    def _create(self, group: str, topics: Sequence[str], start_id: str = "0") -> None:
        for topic in topics:
            if (group, topic) in self._groups:
                continue
            try:
                self._conn.fast.xgroup_create(self._key(topic), group, id=start_id, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._groups.add((group, topic))

    def read(self, group: str, consumer: str, count: int = 100, block_ms: int = 0, *,
             topics: Sequence[str] = TOPICS) -> list[Event]:
        checks.name(group, "consumer group")
        checks.name(consumer, "consumer")
        count, block_ms, topics = checks.count(count), checks.block_ms(block_ms), \
            checks.topics(topics)
        with self._conn.guard(f"read for group {group!r}"):
            self._create(group, topics)
            try:
                return self._read(group, consumer, count, block_ms, topics)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._groups = {g for g in self._groups if g[0] != group}  # stream was deleted
                self._create(group, topics)
                return self._read(group, consumer, count, block_ms, topics)

    def _read(self, group, consumer, count, block_ms, topics) -> list[Event]:
        got = self._backlog(group, consumer, count, topics)
        if not got and self.claim_idle_ms is not None:
            got = self._claim(group, consumer, count, topics)
        if not got:
            client = self._conn.slow if block_ms else self._conn.fast
            reply = client.xreadgroup(group, consumer, {self._key(t): ">" for t in topics},
                                      count=count, block=block_ms or None)
            got = self._events(group, reply or [], redelivered=False)
        return got

    def _backlog(self, group, consumer, count, topics) -> list[Event]:
        streams = {}
        for topic in topics:
            cursor = self._cursors.setdefault((group, consumer, topic), "0-0")
            if cursor is not None:
                streams[self._key(topic)] = cursor
        if not streams:
            return []
        reply = dict(self._conn.fast.xreadgroup(group, consumer, streams, count=count) or [])
        for key in streams:
            entries = reply.get(key.encode(), [])
            topic = key[len(self._prefix):]
            self._cursors[(group, consumer, topic)] = entries[-1][0].decode() if entries \
                else None
        return self._events(group, list(reply.items()), redelivered=True)

    def _claim(self, group, consumer, count, topics) -> list[Event]:
        now = time.monotonic()
        every_s = min(self.claim_idle_ms / 2, 5000) / 1000  # type: ignore[operator]
        if now - self._claimed_at.get(group, -1e9) < every_s:
            return []
        self._claimed_at[group] = now
        pipe = self._conn.fast.pipeline(transaction=False)
        for topic in topics:
            pipe.xautoclaim(self._key(topic), group, consumer, self.claim_idle_ms, "0-0",
                            count=count)
        replies = pipe.execute()
        return self._events(group, [(self._key(t).encode(), r[1])
                                    for t, r in zip(topics, replies, strict=True)],
                            redelivered=True)

    def _events(self, group: str, reply, redelivered: bool) -> list[Event]:
        out, drop = [], {}
        for key, entries in reply:
            topic = key.decode()[len(self._prefix):]
            for entry_id, fields in entries:
                if not fields:  # trimmed away while pending
                    drop.setdefault(topic, []).append(entry_id)
                    continue
                try:
                    out.append(from_fields(topic, entry_id, fields, redelivered))
                except BusValueError as exc:
                    log.error("event stream: skipping a foreign entry: %s", exc)
                    drop.setdefault(topic, []).append(entry_id)
        if drop:
            pipe = self._conn.fast.pipeline(transaction=False)
            for topic, ids in drop.items():
                pipe.xack(self._key(topic), group, *ids)
            pipe.execute()
        return out

    def ack(self, group: str, refs: Iterable[Event | tuple[str, str]]) -> int:
        """Mark events done for `group`; returns how many were pending."""
        checks.name(group, "consumer group")
        by_topic = checks.refs(refs)
        if not by_topic:
            return 0
        with self._conn.guard(f"ack for group {group!r}"):
            pipe = self._conn.fast.pipeline(transaction=False)
            for topic, ids in by_topic.items():
                pipe.xack(self._key(topic), group, *ids)
            return sum(pipe.execute())

    def length(self, topic: str) -> int:
        (topic,) = checks.topics(topic)
        with self._conn.guard(f"length of {topic!r}"):
            return int(self._conn.fast.xlen(self._key(topic)))

    def pending(self, group: str, topic: str) -> int:
        (topic,) = checks.topics(topic)
        with self._conn.guard(f"pending of {group!r} on {topic!r}"):
            try:
                return int(self._conn.fast.xpending(self._key(topic), group)["pending"])
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    return 0
                raise

    def close(self) -> None:
        """The connection belongs to the bus; nothing of its own to release."""
