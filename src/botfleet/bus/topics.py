"""The event-stream topics and the pub/sub channels, in one place.

A topic is a durable, replayable log (an event stream read by consumer groups); a channel is a
fire-and-forget signal to whoever is listening now. Everything that must not be missed goes to
a topic; a channel only says "look again" (the kill switch itself lives in the state database).
Appending to a topic that is not listed here is an error, so a typo cannot create a stream that
nobody reads.
"""

from __future__ import annotations

ORDERS_PLACED = "orders.placed"
"""An order was sent to a broker (paper or live). Payload: bot, exchange, symbol, side, type,
amount, price (money as strings), client_order_id. Read by the UI's order blotter."""

TRADES_OPENED = "trades.opened"
"""A position was opened by a fill. Payload: bot, symbol, side, amount, entry_price, fees,
trade_id. Read by the notifier ("opened BTC/USDT long") and the UI."""

TRADES_CLOSED = "trades.closed"
"""A position was closed (exit signal, stop, take-profit, kill switch). Payload: bot, symbol,
trade_id, exit_price, pnl, fees, reason. Read by the notifier and the UI."""

RISK_ALERTS = "risk.alerts"
"""A risk check refused an order or a limit came near (daily loss, drawdown, exposure).
Payload: bot, check, limit, value, message, severity."""

BREAKER_CHANGED = "breaker.changed"
"""A circuit breaker tripped or reset. Payload: breaker, scope, target, state, reason, until_ms."""

KILLSWITCH_CHANGED = "killswitch.changed"
"""A kill switch was engaged or released (the durable record is in the state database; this is
the history the notifier and the UI show). Payload: scope, target, mode, actor, reason."""

NOTIFICATIONS = "notifications"
"""A message for the humans, already worded: the notifier routes it through Apprise by
severity. Payload: title, body, severity, bot (optional)."""

TOPICS: tuple[str, ...] = (ORDERS_PLACED, TRADES_OPENED, TRADES_CLOSED, RISK_ALERTS,
                           BREAKER_CHANGED, KILLSWITCH_CHANGED, NOTIFICATIONS)

KILL_SWITCH_CHANNEL = "kill_switch"
"""Pub/sub: "the kill switches changed, reload them from the state database"."""

CONTROL_CHANNEL = "control"
"""Pub/sub: control messages for running bots, e.g. {"cmd": "pause", "bot": "btc-trend"};
commands: pause, resume, reload. A bot acts on the ones addressed to it (or to "*")."""

CHANNELS: tuple[str, ...] = (KILL_SWITCH_CHANNEL, CONTROL_CHANNEL)
