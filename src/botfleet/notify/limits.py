"""The two clocks of a channel: its rate limit (a token bucket) and the notifier's quiet hours.

Both take the time as an argument instead of reading a clock, so the tests move through a
night or a burst of a thousand events without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class TokenBucket:
    """`count` messages per `period_s`, refilled continuously: a burst of `count` goes at once,
    then one more every period/count seconds."""

    def __init__(self, count: int, period_s: float, now: float):
        if count < 1 or period_s <= 0:
            raise ValueError(f"rate limit {count}/{period_s}s: both must be positive")
        self.capacity = float(count)
        self.rate = count / float(period_s)
        self.tokens = self.capacity
        self.at = now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now

    def available(self, now: float) -> int:
        self._refill(now)
        return int(self.tokens + 1e-9)

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens + 1e-9 >= 1:
            self.tokens -= 1
            return True
        return False

    def next_token_at(self, now: float) -> float:
        self._refill(now)
        missing = 1 - self.tokens
        return now if missing <= 1e-9 else now + missing / self.rate


@dataclass(frozen=True)
class QuietHours:
    """Local times [start, end) in `timezone`; start after end spans midnight (23:00-07:00)."""

    start_min: int
    end_min: int
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: dict | None) -> QuietHours | None:
        if not spec:
            return None
        return cls(_minutes(spec["start"]), _minutes(spec["end"]),
                   ZoneInfo(spec.get("timezone") or "UTC"))

    def active(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.tz)
        m = local.hour * 60 + local.minute
        if self.start_min == self.end_min:
            return False
        if self.start_min < self.end_min:
            return self.start_min <= m < self.end_min
        return m >= self.start_min or m < self.end_min

    def ends_at(self, now: float) -> float:
        """When the quiet period under way at `now` ends (`now` itself when none is)."""
        if not self.active(now):
            return now
        local = datetime.fromtimestamp(now, self.tz)
        end = local.replace(hour=self.end_min // 60, minute=self.end_min % 60, second=0,
                            microsecond=0)
        if end <= local:
            end = (end.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=self.tz)
        return end.timestamp()


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)
