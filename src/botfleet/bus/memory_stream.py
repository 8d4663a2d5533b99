"""The in-process event stream: Redis Streams' consumer-group semantics on lists in memory.

Shared by every `memory://` bus of the process (the notifier thread reads what the bot threads
append) and gone when the process ends: the embedded default keeps events across a *reader's*
restart within the process, not across a restart of the process; durable history is the state
database's job. What matches Redis, so the same tests pass on both:

- ids are "milliseconds-sequence", strictly increasing per topic;
- a group starts at the beginning of the retained events (or at the end, `start="latest"`);
- a read hands each new event to one consumer of the group and records it as pending until
  acknowledged; a consumer object reading under a name with pending events gets those first
  (its predecessor of that name crashed), and any consumer takes over events pending longer
  than `claim_idle_ms` (XAUTOCLAIM);
- trimming is approximate: a topic keeps at least `maxlen` events and at most `maxlen` plus a
  slack of up to 100, trimmed in bulk as Redis trims whole nodes; pending events that were
  trimmed away are dropped from the pending list (Redis reports them as deleted).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from botfleet.bus import checks
from botfleet.bus.event import Event, from_fields, now_ms, to_fields
from botfleet.bus.topics import TOPICS

Id = tuple[int, int]


@dataclass
class _Pending:
    consumer: str
    delivered_at: float  # monotonic seconds


@dataclass
class _Group:
    last: Id
    pending: dict[Id, _Pending] = field(default_factory=dict)


@dataclass
class _Stream:
    ids: list[Id] = field(default_factory=list)
    fields: list[dict[str, str]] = field(default_factory=list)
    last: Id = (0, 0)
    groups: dict[str, _Group] = field(default_factory=dict)

    def entry(self, entry_id: Id) -> dict[str, str] | None:
        i = bisect_left(self.ids, entry_id)
        return self.fields[i] if i < len(self.ids) and self.ids[i] == entry_id else None


_streams: dict[str, _Stream] = {}
_cond = threading.Condition()


def purge(prefix: str) -> int:
    with _cond:
        gone = [k for k in _streams if k.startswith(prefix)]
        for key in gone:
            del _streams[key]
    return len(gone)


def _text(entry_id: Id) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


def _parse(entry_id: str) -> Id:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


class MemoryEventStream:
    def __init__(self, prefix: str, maxlen: int, claim_idle_ms: int | None):
        self._prefix = prefix + "events:"
        self.maxlen = maxlen
        self.claim_idle_ms = claim_idle_ms
        self._cursors: dict[tuple[str, str, str], Id | None] = {}  # backlog; None: drained

    def _stream(self, topic: str) -> _Stream:
        return _streams.setdefault(self._prefix + topic, _Stream())

    def append(self, event: Event) -> str:
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[Event]) -> list[str]:
        encoded = [(e.topic, to_fields(e)) for e in events]
        out = []
        with _cond:
            for topic, fields in encoded:
                stream = self._stream(topic)
                ms = now_ms()
                new = (ms, 0) if ms > stream.last[0] else (stream.last[0], stream.last[1] + 1)
                stream.ids.append(new)
                stream.fields.append(fields)
                stream.last = new
                if len(stream.ids) > self.maxlen + min(100, self.maxlen):
                    self._trim(stream)
                out.append(_text(new))
            _cond.notify_all()
        return out

    def _trim(self, stream: _Stream) -> None:
        cut = len(stream.ids) - self.maxlen
        del stream.ids[:cut], stream.fields[:cut]

    def create_group(self, group: str, *, topics: Sequence[str] = TOPICS,
                     start: str = "earliest") -> None:
        checks.name(group, "consumer group")
        checks.start(start)
        with _cond:
            for topic in checks.topics(topics):
                stream = self._stream(topic)
                if group not in stream.groups:
                    stream.groups[group] = _Group((0, 0) if start == "earliest" else stream.last)

    def read(self, group: str, consumer: str, count: int = 100, block_ms: int = 0, *,
             topics: Sequence[str] = TOPICS) -> list[Event]:
        checks.name(group, "consumer group")
        checks.name(consumer, "consumer")
        count, block_ms, topics = checks.count(count), checks.block_ms(block_ms), \
            checks.topics(topics)
        self.create_group(group, topics=topics)
        deadline = time.monotonic() + block_ms / 1000
        with _cond:
            got = self._backlog(group, consumer, count, topics)
            if not got and self.claim_idle_ms is not None:
                got = self._claim(group, consumer, count, topics)
            while not got:
                got = self._new(group, consumer, count, topics)
                left = deadline - time.monotonic()
                if got or left <= 0:
                    break
                _cond.wait(left)
        return [from_fields(topic, _text(i), f, redelivered) for topic, i, f, redelivered in got]

    def _group(self, topic: str, group: str) -> _Group:
        stream = self._stream(topic)
        return stream.groups.setdefault(group, _Group((0, 0)))

    def _backlog(self, group, consumer, count, topics) -> list:
        got = []
        now = time.monotonic()
        for topic in topics:
            cursor = self._cursors.setdefault((group, consumer, topic), (0, 0))
            if cursor is None:
                continue
            stream, g = self._stream(topic), self._group(topic, group)
            mine = sorted(i for i, p in g.pending.items() if p.consumer == consumer and i > cursor)
            if not mine:
                self._cursors[(group, consumer, topic)] = None
                continue
            for entry_id in mine[:count]:
                fields = stream.entry(entry_id)
                if fields is None:
                    del g.pending[entry_id]
                    continue
                g.pending[entry_id].delivered_at = now
                got.append((topic, entry_id, fields, True))
            self._cursors[(group, consumer, topic)] = mine[:count][-1]
        return got

    def _claim(self, group, consumer, count, topics) -> list:
        got = []
        now = time.monotonic()
        idle_s = self.claim_idle_ms / 1000  # type: ignore[operator]
        for topic in topics:
            stream, g = self._stream(topic), self._group(topic, group)
            stale = sorted(i for i, p in g.pending.items() if now - p.delivered_at >= idle_s)
            for entry_id in stale[:count]:
                fields = stream.entry(entry_id)
                if fields is None:
                    del g.pending[entry_id]
                    continue
                g.pending[entry_id] = _Pending(consumer, now)
                got.append((topic, entry_id, fields, True))
        return got

    def _new(self, group, consumer, count, topics) -> list:
        got = []
        now = time.monotonic()
        for topic in topics:
            stream, g = self._stream(topic), self._group(topic, group)
            start = bisect_right(stream.ids, g.last)
            for i in range(start, min(start + count, len(stream.ids))):
                entry_id = stream.ids[i]
                g.pending[entry_id] = _Pending(consumer, now)
                got.append((topic, entry_id, stream.fields[i], False))
                g.last = entry_id
        return got

    def ack(self, group: str, refs: Iterable[Event | tuple[str, str]]) -> int:
        checks.name(group, "consumer group")
        by_topic = checks.refs(refs)
        done = 0
        with _cond:
            for topic, ids in by_topic.items():
                stream = _streams.get(self._prefix + topic)
                g = stream.groups.get(group) if stream else None
                if g is not None:
                    done += sum(g.pending.pop(_parse(i), None) is not None for i in ids)
        return done

    def length(self, topic: str) -> int:
        checks.topics(topic)
        with _cond:
            stream = _streams.get(self._prefix + topic)
            return len(stream.ids) if stream else 0

    def pending(self, group: str, topic: str) -> int:
        checks.topics(topic)
        with _cond:
            stream = _streams.get(self._prefix + topic)
            g = stream.groups.get(group) if stream else None
            return len(g.pending) if g else 0

    def close(self) -> None:
        """Nothing to release: the events stay for the process's other readers."""
