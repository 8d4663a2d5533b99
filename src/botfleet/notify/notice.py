"""What the notifier routes: a bus event turned into a notification of a YAML event type.

The runtime speaks in bus topics (`trades.closed`, `risk.alerts`); the user routes by the event
types of `schemas/common.schema.json` (`stop_hit`, `risk_refusal`). This module is the one
place that maps the first onto the second, so a change of payload or topic is fixed here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botfleet.bus import (
    BREAKER_CHANGED,
    KILLSWITCH_CHANGED,
    NOTIFICATIONS,
    ORDERS_PLACED,
    RISK_ALERTS,
    TRADES_CLOSED,
    TRADES_OPENED,
    Event,
)
from botfleet.config.notify_fields import FIELDS

SEVERITIES = ("debug", "info", "warning", "error", "critical")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
MESSAGE = "message"
"""The type of a worded message on the `notifications` topic that names no event type and is
not an error: routed only by routes listing `*`."""

STOP_REASONS = frozenset({"stop_loss", "trailing_stop", "liquidation"})
_ORDER_TYPES = ("order_placed", "order_filled", "order_cancelled", "order_rejected")


@dataclass(frozen=True)
class Notice:
    event_type: str
    severity: str
    bot: str | None
    fields: Mapping[str, Any]
    ts_s: float = field(default_factory=time.time)
    key: tuple[str, str] | None = None  # (topic, stream id): the idempotency key
    attachments: tuple[Path, ...] = ()
    alert: bool = False  # a "channel X is failing" alert: its own failure raises no alert

    @property
    def critical(self) -> bool:
        return self.severity == "critical"


def severity_of(value: object, default: str) -> str:
    return value if isinstance(value, str) and value in RANK else default


def classify(event: Event) -> tuple[str, str]:
    """(event type, severity) of a bus event."""
    p, topic, kind = event.payload, event.topic, event.type
    if topic == ORDERS_PLACED:
        etype = kind if kind in _ORDER_TYPES else "order_placed"
        return etype, severity_of(p.get("severity"),
                                  "warning" if etype == "order_rejected" else "info")
    if topic == TRADES_OPENED:
        return "trade_opened", severity_of(p.get("severity"), "info")
    if topic == TRADES_CLOSED:
        if kind == "stop_hit" or p.get("reason") in STOP_REASONS:
            return "stop_hit", severity_of(p.get("severity"), "warning")
        return "trade_closed", severity_of(p.get("severity"), "info")
    if topic == RISK_ALERTS:
        etype = kind if kind in FIELDS and kind != "*" else "risk_refusal"
        return etype, severity_of(p.get("severity"), "warning")
    if topic == BREAKER_CHANGED:
        tripped = str(p.get("state", "")).lower() in ("open", "tripped")
        return "circuit_breaker", severity_of(p.get("severity"), "error" if tripped else "info")
    if topic == KILLSWITCH_CHANGED:
        engaged = str(p.get("state", kind)).lower() in ("engaged", "kill_switch_engaged")
        return "kill_switch", severity_of(p.get("severity"), "critical" if engaged else "warning")
    if topic == NOTIFICATIONS:
        severity = severity_of(p.get("severity"), "info")
        for named in (kind, p.get("event")):
            if isinstance(named, str) and named in FIELDS and named != "*":
                return named, severity
        return ("error" if RANK[severity] >= RANK["error"] else MESSAGE), severity
    return MESSAGE, severity_of(p.get("severity"), "info")


def from_event(event: Event) -> Notice:
    etype, severity = classify(event)
    bot = event.payload.get("bot")
    bot = bot if isinstance(bot, str) and bot else None
    fields = {**event.payload, "bot": bot or "", "event": etype, "severity": severity,
              "topic": event.topic, "time": iso(event.ts_ms / 1000)}
    key = (event.topic, event.id) if event.id else None
    return Notice(etype, severity, bot, fields, event.ts_ms / 1000, key)


def message(title: str, body: str, *, event_type: str, severity: str = "info",
            bot: str | None = None, attachments=(), ts_s: float | None = None) -> Notice:
    """A worded message (a report, a test) as a notice."""
    if severity not in RANK:
        raise ValueError(f"severity {severity!r}: one of {', '.join(SEVERITIES)}")
    ts = time.time() if ts_s is None else ts_s
    fields = {"title": title, "body": body, "bot": bot or "", "event": event_type,
              "severity": severity, "topic": NOTIFICATIONS, "time": iso(ts)}
    return Notice(event_type, severity, bot, fields, ts,
                  attachments=tuple(Path(a) for a in attachments))


def iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
