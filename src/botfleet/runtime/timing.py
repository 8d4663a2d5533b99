"""When a bot's cycle is due, and whose clock says so.

A paper fleet on the simulator lives in the venue's time, which may run 3600x faster than the
wall (or stand still until told to move), so the runner never reads `time.time()` directly: it
asks a `RunnerClock` for the exchange's "now" and how fast that time runs, and sleeps the
wall-clock equivalent. Schedules come from the YAML (`config.schedule.Schedule`):
`on_candle_close` fires at every close of the bot's timeframe, `every 5m` on multiples of five
minutes since the epoch, cron expressions in their timezone.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from botfleet.config.schedule import Schedule
from botfleet.data.candles import next_open, now_ms, timeframe_ms

WEEK_OFFSET_MS = 4 * 86_400_000  # 1970-01-05 was a Monday: weekly candles open on Mondays


def candle_open_before(ts_ms: int, timeframe: str) -> int:
    """Open time of the candle that contains `ts_ms` (months by the calendar)."""
    if timeframe.endswith("M"):
        d = datetime.fromtimestamp(ts_ms / 1000, UTC)
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
    step = timeframe_ms(timeframe)
    offset = WEEK_OFFSET_MS if timeframe.endswith("w") else 0
    return ts_ms - (ts_ms - offset) % step


def last_closed_open(now: int, timeframe: str) -> int:
    """Open time of the newest candle that has closed by `now`."""
    current = candle_open_before(now, timeframe)
    if timeframe.endswith("M"):
        d = datetime.fromtimestamp(current / 1000, UTC)
        y, m = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
        return int(datetime(y, m, 1, tzinfo=UTC).timestamp() * 1000)
    return current - timeframe_ms(timeframe)


def next_fire(schedule: Schedule, timeframe: str, after_ms: int) -> int:
    """The first time strictly after `after_ms` at which the schedule fires."""
    if schedule.on_candle_close:
        return next_open(candle_open_before(after_ms, timeframe), timeframe)
    if schedule.interval is not None:
        step = int(schedule.interval * 1000)
        return (after_ms // step + 1) * step
    from croniter import croniter

    tz = ZoneInfo(schedule.timezone)
    start = datetime.fromtimestamp(after_ms / 1000, tz)
    nxt = croniter(schedule.cron, start).get_next(datetime)
    return int(nxt.timestamp() * 1000)


class RunnerClock:
    """Real time: the wall clock (live trading; the exchange's offset is ccxt's business)."""

    label = "wall"

    def now_ms(self) -> int:
        return now_ms()

    def speed(self) -> float:
        """Clock milliseconds per wall millisecond (0: it moves only when told)."""
        return 1.0

    async def sleep_until(self, ms: int, stop: asyncio.Event) -> bool:
        """Sleep until the clock reads `ms` or `stop` is set; True if `ms` was reached."""
        while True:
            now = self.now_ms()
            if now >= ms:
                return True
            speed = self.speed()
            wait = 0.5 if speed <= 0 else min((ms - now) / speed / 1000, 5.0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.001))
                return False
            except TimeoutError:
                continue


class VenueClock(RunnerClock):
    """The in-process simulator's `venue.Clock` (wall, manual or replay), read directly."""

    label = "venue"

    def __init__(self, clock):
        self.clock = clock

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def speed(self) -> float:
        return self.clock.speed


class RemoteVenueClock(RunnerClock):
    """A simulator in another process: its time and speed from `/sim/v1/clock` (through
    `venue.SimClock`), extrapolated locally and re-read at most every `resync_s`."""

    label = "remote venue"

    def __init__(self, sim_clock, resync_s: float = 1.0):
        self.sim = sim_clock
        self.resync_s = resync_s
        self._sync()

    def _sync(self) -> None:
        state = self.sim.state()
        self._at = time.monotonic()
        self._now, self._speed = int(state["now"]), float(state["speed"])

    def now_ms(self) -> int:
        if time.monotonic() - self._at > self.resync_s:
            self._sync()
        return self._now + int((time.monotonic() - self._at) * 1000 * self._speed)

    def speed(self) -> float:
        return self._speed
