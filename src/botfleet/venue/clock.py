"""The venue's clock, shared by the simulator and the bots that trade on it.

Replaying years of candles in real time would take years, so the venue's "now" is its own: the
wall clock (a live-like demo), a manual clock that only moves when told (deterministic tests and
the bar-by-bar parity replay), or a replay clock that runs `speed` times faster than the wall
clock from a chosen start (3600x: one hour of market per second). Everything time-dependent in
the venue — which candles are visible, which bars the matching engine has settled, order and
trade timestamps — reads this one object, so a bot that reads the same clock (in process, or
through `/api/v3/time` and the simulator-only `/sim/v1/clock`) sees a consistent market.

Request signatures are NOT checked against this clock: `recvWindow` guards network delay, which
happens in real time, so `auth` uses the wall clock whatever the replay speed.
"""

from __future__ import annotations

import threading
import time

from botfleet.data.candles import now_ms

MODES = ("wall", "manual", "replay")


class Clock:
    """Server time in ms. `Clock()` is the wall clock, `Clock(ms)` a manual clock frozen at
    `ms`, `Clock.replay(start_ms, speed)` a clock running `speed` times faster than the wall."""

    def __init__(self, fixed_ms: int | None = None):
        self._lock = threading.Lock()
        self._fixed = None if fixed_ms is None else int(fixed_ms)
        self._speed = 0.0  # > 0: replay mode
        self._origin_ms = 0  # replay: venue time at wall instant _wall0
        self._wall0 = 0.0

    @classmethod
    def replay(cls, start_ms: int, speed: float) -> Clock:
        clock = cls()
        clock.set_speed(speed, start_ms=start_ms)
        return clock

    # --- reading ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        with self._lock:
            return self._now()

    def _now(self) -> int:
        if self._speed > 0.0:
            return self._origin_ms + int((time.monotonic() - self._wall0) * 1000.0 * self._speed)
        return now_ms() if self._fixed is None else self._fixed

    @property
    def mode(self) -> str:
        with self._lock:
            if self._speed > 0.0:
                return "replay"
            return "wall" if self._fixed is None else "manual"

    @property
    def frozen(self) -> bool:
        return self.mode == "manual"

    @property
    def speed(self) -> float:
        """Venue milliseconds per wall millisecond: 1 for the wall clock, 0 for a manual one."""
        with self._lock:
            if self._speed > 0.0:
                return self._speed
            return 1.0 if self._fixed is None else 0.0

    def state(self) -> dict:
        """What `/sim/v1/clock` answers."""
        with self._lock:
            mode = "replay" if self._speed > 0.0 else ("wall" if self._fixed is None
                                                          else "manual")
            speed = self._speed if mode == "replay" else (1.0 if mode == "wall" else 0.0)
            return {"now": self._now(), "mode": mode, "speed": speed}

    # --- moving ----------------------------------------------------------------------------

    def set(self, ms: int | None) -> None:
        """Manual mode frozen at `ms` (a replay clock keeps running from `ms` at its speed);
        `None` returns to the wall clock."""
        with self._lock:
            if ms is None:
                self._fixed, self._speed = None, 0.0
            elif self._speed > 0.0:
                self._origin_ms, self._wall0 = int(ms), time.monotonic()
            else:
                self._fixed = int(ms)

    def advance(self, ms: int) -> int:
        """Move a manual or replay clock forward by `ms`; returns the new time. The wall clock
        cannot be moved: set() a time first."""
        if int(ms) < 0:
            raise ValueError(f"advance by {ms} ms: the clock only moves forward")
        with self._lock:
            if self._speed > 0.0:
                self._origin_ms += int(ms)
            elif self._fixed is None:
                raise RuntimeError("the wall clock cannot be advanced; set() a time first")
            else:
                self._fixed += int(ms)
            return self._now()

    def set_speed(self, speed: float, *, start_ms: int | None = None) -> None:
        """Replay at `speed` x the wall clock from `start_ms` (default: now); speed 0 freezes
        the clock where it is (manual mode)."""
        if not speed >= 0.0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        with self._lock:
            start = self._now() if start_ms is None else int(start_ms)
            if speed == 0.0:
                self._fixed, self._speed = start, 0.0
            else:
                self._fixed, self._speed = None, float(speed)
                self._origin_ms, self._wall0 = start, time.monotonic()
