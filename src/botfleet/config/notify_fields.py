"""The fields each notification event type carries, and the check of message templates.

A template is written once in YAML and used hours later when a stop is hit at night; a typo in
a field name must therefore be reported by `botfleet validate`, at the template's line, not
discovered as a broken message. This lives in `config/` (not `notify/`) because the cross-file
check runs at load time and `config/` imports nothing of the rest of botfleet; `notify/` reads
the same table to render.
"""

from __future__ import annotations

import difflib
import string

COMMON = ("bot", "event", "severity", "time", "topic")
"""Every event has these: the bot (empty for fleet-wide events), the event type, its severity,
the time it happened (ISO 8601 UTC) and the bus topic it came from."""

_ORDER = ("exchange", "symbol", "side", "type", "amount", "price", "stop_price", "status",
          "filled", "average_price", "client_order_id", "reason")
_TRADE_CLOSED = ("symbol", "trade_id", "entry_price", "exit_price", "amount", "pnl", "fees",
                 "reason")
_MESSAGE = ("title", "body")

FIELDS: dict[str, tuple[str, ...]] = {
    "*": (),
    "order_placed": _ORDER,
    "order_filled": _ORDER,
    "order_cancelled": _ORDER,
    "order_rejected": _ORDER,
    "trade_opened": ("symbol", "side", "amount", "entry_price", "trade_id"),
    "trade_closed": _TRADE_CLOSED,
    "stop_hit": _TRADE_CLOSED,
    "risk_refusal": ("check", "level", "target", "limit", "value", "message", "symbol", "side",
                     "amount"),
    "circuit_breaker": ("breaker", "scope", "target", "state", "reason", "until_ms"),
    "kill_switch": ("scope", "target", "mode", "actor", "reason", "state"),
    "error": _MESSAGE,
    "data_gap": _MESSAGE + ("exchange", "symbol", "timeframe", "start", "end", "missing"),
    "daily_report": _MESSAGE,
    "weekly_report": _MESSAGE,
    "bot_started": _MESSAGE,
    "bot_stopped": _MESSAGE,
    "reconciliation_mismatch": ("check", "limit", "value", "message"),
    "model_drift": _MESSAGE + ("model", "metric", "value", "limit"),
}
"""Payload fields by event type, beyond COMMON. A field may be absent from one event (an order
without a price); rendering leaves such a placeholder empty rather than failing."""

MONEY = frozenset({"amount", "price", "stop_price", "filled", "average_price", "entry_price",
                   "exit_price", "pnl", "fees", "limit", "value"})
"""Fields that arrive as decimal strings and are rendered as Decimal, so `{pnl:.2f}` works."""


def fields_of(event_type: str) -> tuple[str, ...]:
    return COMMON + FIELDS.get(event_type, ())


def template_problems(event_type: str, template: str) -> list[tuple[str, str]]:
    """(message, hint) for each mistake in a template for `event_type`; [] when it is fine."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [(f"template for {event_type} is not a valid format string: {exc}",
                 "write fields as {name}; a literal brace is written {{ or }}")]
    known = fields_of(event_type)
    out = []
    for _text, name, spec, _conv in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            out.append((f"template for {event_type} has a positional field '{{{name}}}'",
                        f"name a field: {', '.join(known)}"))
            continue
        if any(c in name for c in ".["):
            out.append((f"template for {event_type}: '{{{name}}}' reaches into a value",
                        f"only plain fields are allowed: {', '.join(known)}"))
            continue
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            message = (f"template for {event_type} names '{{{name}}}', which {event_type} "
                       "events do not carry")
            out.append((message, f"{hint}fields: {', '.join(known)}"))
        if spec and "{" in spec:
            out.append((f"template for {event_type}: nested field in the format of '{name}'",
                        "write a fixed format such as {pnl:.2f}"))
    return out
