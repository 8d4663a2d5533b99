"""The schedule language of the YAML files.

Users write schedules the way they say them (`every 5m`, `daily 08:00 Europe/Berlin`) or as cron;
each form is turned into either an interval or a cron expression with a timezone, which is what
Prefect's schedules take. `on_candle_close` becomes an interval equal to the bot's timeframe,
aligned to candle boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

from botfleet.config.units import duration_seconds

_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


class ScheduleError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Schedule:
    text: str
    interval: Decimal | None = None  # seconds, for `every …`
    cron: str | None = None
    timezone: str = "UTC"
    on_candle_close: bool = False


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        from botfleet.config.problems import did_you_mean

        raise ScheduleError(f"unknown timezone '{name}'",
                            did_you_mean(name, available_timezones()) or
                            "use an IANA name such as 'Europe/Berlin' or 'UTC'") from None
    return name


def _time(text: str) -> tuple[int, int]:
    m = _HHMM.match(text)
    if not m:
        raise ScheduleError(f"'{text}' is not a time of day", "write HH:MM, e.g. 08:00")
    return int(m.group(1)), int(m.group(2))


def parse_schedule(text: str) -> Schedule:
    words = text.split()
    if not words:
        raise ScheduleError("empty schedule")
    head = words[0].lower()
    if head == "on_candle_close" and len(words) == 1:
        return Schedule(text, on_candle_close=True)
    if head == "every":
        if len(words) != 2:
            raise ScheduleError(f"'{text}' is not a schedule", "write e.g. 'every 5m'")
        try:
            seconds = duration_seconds(words[1])
        except ValueError:
            raise ScheduleError(f"'{words[1]}' is not a duration",
                                "write e.g. 'every 30s', 'every 5m' or 'every 1h'") from None
        if seconds < 1:
            raise ScheduleError("an interval must be at least 1s")
        return Schedule(text, interval=seconds)
    if head == "hourly" and len(words) == 1:
        return Schedule(text, cron="0 * * * *")
    if head == "daily" and len(words) in (2, 3):
        hh, mm = _time(words[1])
        tz = _timezone(words[2]) if len(words) == 3 else "UTC"
        return Schedule(text, cron=f"{mm} {hh} * * *", timezone=tz)
    if head == "weekly" and len(words) in (3, 4):
        day = words[1].upper()
        if day not in _DAYS:
            raise ScheduleError(f"'{words[1]}' is not a day", f"use one of {', '.join(_DAYS)}")
        hh, mm = _time(words[2])
        tz = _timezone(words[3]) if len(words) == 4 else "UTC"
        return Schedule(text, cron=f"{mm} {hh} * * {day}", timezone=tz)
    if len(words) in (5, 6) and not head.isalpha():
        expr = " ".join(words[:5])
        if not croniter.is_valid(expr):
            raise ScheduleError(f"'{expr}' is not a valid cron expression",
                                "five fields: minute hour day-of-month month day-of-week")
        tz = _timezone(words[5]) if len(words) == 6 else "UTC"
        return Schedule(text, cron=expr, timezone=tz)
    raise ScheduleError(
        f"'{text}' is not a schedule",
        "write 'every 5m', 'on_candle_close', 'hourly', 'daily 08:00 [TZ]', "
        "'weekly MON 08:00 [TZ]' or a cron expression such as '0 3 * * SUN [TZ]'")
