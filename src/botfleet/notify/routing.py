"""Which channels hear of a notice: the notifiers' routes, filtered by the bot's own settings.

A route matches on event type (or `*`), minimum severity and bot globs; a notice without a
bot (a fleet-wide kill switch, a daily report) matches only routes that name no bots. A bot's
`notify:` block narrows further: only its `notifiers`, only its `events`, nothing under its
`min_severity`, and `mute` silences it except for critical alerts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from botfleet.notify.notice import RANK, Notice


@dataclass(frozen=True)
class Route:
    notifier: str
    events: frozenset[str]
    min_rank: int
    bots: tuple[str, ...]
    channels: tuple[str, ...]  # channel keys

    def matches(self, notice: Notice) -> bool:
        if "*" not in self.events and notice.event_type not in self.events:
            return False
        if RANK.get(notice.severity, 1) < self.min_rank:
            return False
        if self.bots:
            return notice.bot is not None and any(fnmatch.fnmatchcase(notice.bot, g)
                                                  for g in self.bots)
        return True


class Router:
    def __init__(self, routes: list[Route], bot_settings: Mapping[str, Mapping]):
        self.routes = routes
        self.bot_settings = bot_settings

    @classmethod
    def from_fleet(cls, fleet, keys: Mapping[tuple[str, str], str]) -> Router:
        routes = [Route(n.name, frozenset(r["events"]), RANK[r.get("min_severity", "debug")],
                        tuple(r.get("bots") or ()),
                        tuple(keys[(n.name, c)] for c in r["channels"]))
                  for n in fleet.notifiers.values() for r in n.routes]
        return cls(routes, {b.name: b.notify for b in fleet.bots.values()})

    def channels(self, notice: Notice) -> list[str]:
        """Channel keys for the notice, in route order, each once."""
        allowed = self._allowed_notifiers(notice)
        if allowed is not None and not allowed:
            return []
        out: dict[str, None] = {}
        for route in self.routes:
            if allowed is not None and route.notifier not in allowed:
                continue
            if route.matches(notice):
                out.update(dict.fromkeys(route.channels))
        return list(out)

    def _allowed_notifiers(self, notice: Notice) -> set[str] | None:
        """None: every notifier; an empty set: this notice is filtered out by its bot."""
        settings = self.bot_settings.get(notice.bot or "") or {}
        if not settings:
            return None
        if settings.get("mute") and not notice.critical:
            return set()
        events = settings.get("events")
        if events and "*" not in events and notice.event_type not in events:
            return set()
        floor = settings.get("min_severity")
        if floor and RANK.get(notice.severity, 1) < RANK[floor]:
            return set()
        names = settings.get("notifiers")
        return set(names) if names is not None else None
