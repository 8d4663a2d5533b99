"""Turning a notice into a title and a body: the user's template, or botfleet's default.

Templates are `str.format` strings over the event's fields (`config.notify_fields` lists them
per event type and `botfleet validate` rejects a template naming any other). Money fields
arrive from the bus as exact decimal strings and are turned back into Decimal here, so
`{pnl:.2f}` works. A field an event happens not to carry renders as `-`; a template that still
fails at send time (a number format on a text field) falls back to the default, logged once:
a notification is never lost to a formatting mistake.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from botfleet.config.notify_fields import MONEY, template_problems
from botfleet.notify.notice import Notice

log = logging.getLogger(__name__)

TITLES = {
    "order_placed": "{bot}: {side} order on {symbol}",
    "order_filled": "{bot}: {side} order filled on {symbol}",
    "order_cancelled": "{bot}: order cancelled on {symbol}",
    "order_rejected": "{bot}: order rejected on {symbol}",
    "trade_opened": "{bot}: opened {symbol} {side}",
    "trade_closed": "{bot}: closed {symbol}",
    "stop_hit": "{bot}: stop hit on {symbol}",
    "risk_refusal": "{bot}: order refused by {check}",
    "circuit_breaker": "circuit breaker {breaker} {state}",
    "kill_switch": "kill switch {state}: {scope} {target}",
    "reconciliation_mismatch": "{bot}: reconciliation mismatch",
    "data_gap": "data gap: {symbol} {timeframe}",
}

BODIES = {
    "order_placed": "{bot} placed a {type} {side} order for {amount} {symbol} at {price} "
                    "({reason}); client id {client_order_id}",
    "order_filled": "{bot}: {side} {filled} {symbol} filled at {average_price}",
    "order_cancelled": "{bot}: {side} order for {amount} {symbol} cancelled ({reason})",
    "order_rejected": "{bot}: {side} order for {amount} {symbol} rejected ({reason})",
    "trade_opened": "{bot} opened {side} {amount} {symbol} at {entry_price}",
    "trade_closed": "{bot} closed {amount} {symbol} at {exit_price} (entry {entry_price}): "
                    "PnL {pnl}, fees {fees}, reason {reason}",
    "stop_hit": "{bot}: stop hit on {symbol} at {exit_price} (entry {entry_price}): "
                "PnL {pnl}, reason {reason}",
    "risk_refusal": "{message} (limit {limit}, value {value})",
    "circuit_breaker": "{breaker} on {scope} {target}: {reason}",
    "kill_switch": "{reason} (mode {mode}, by {actor})",
    "reconciliation_mismatch": "{message}",
    "data_gap": "{body}",
}
MESSAGE_TITLE, MESSAGE_BODY = "{title}", "{body}"


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "-"


def _values(fields: Mapping) -> _Fields:
    out = _Fields()
    for k, v in fields.items():
        if k in MONEY and isinstance(v, str):
            try:
                v = Decimal(v)
            except InvalidOperation:
                pass
        out[k] = "-" if v is None else v
    return out


class TemplateError(ValueError):
    """A template names a field its event type does not carry (or is not a format string)."""


def check_templates(templates: Mapping[str, str], where: str) -> None:
    """Raise TemplateError listing every mistake (the loader reports the same with lines)."""
    problems = [f"{where}: templates.{etype}: {msg} ({hint})"
                for etype, text in templates.items()
                for msg, hint in template_problems(etype, text)]
    if problems:
        raise TemplateError("; ".join(problems))


_warned: set[tuple[str, str]] = set()


def _format(text: str, values: _Fields) -> str:
    return string.Formatter().vformat(text, (), values)


def render(notice: Notice, templates: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(title, body) of a notice under a notifier's templates."""
    values = _values(notice.fields)
    etype = notice.event_type
    title_t = TITLES.get(etype, MESSAGE_TITLE) if "title" not in notice.fields \
        else MESSAGE_TITLE
    body_t = BODIES.get(etype, MESSAGE_BODY) if "body" not in notice.fields else MESSAGE_BODY
    custom = (templates or {}).get(etype, (templates or {}).get("*"))
    title = _format(title_t, values)
    if custom is not None:
        try:
            return title, _format(custom, values)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            if (etype, custom) not in _warned:
                _warned.add((etype, custom))
                log.warning("notification template for %s failed (%s); using the default",
                            etype, exc)
    return title, _format(body_t, values)
