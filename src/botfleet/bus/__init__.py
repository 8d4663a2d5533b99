"""The cache / lock / pub-sub / event-stream layer: Redis at scale, in process by default.

    bus = open_bus(fleet.storage.cache)        # "memory://" or "redis://host:port/db"
    bus.cache.set("ticker:binance:BTC/USDT", {"bid": "64000.1"}, ttl_s=5)
    with bus.lock(f"cycle:{bot}", ttl_s=300):  # LockBusy if the last cycle still runs
        ...
    taken = bus.locks.acquire_many([bus.lock(f"cycle:{b}", 300) for b in bots])  # 1 round trip
    bus.pubsub.publish(CONTROL_CHANNEL, {"cmd": "pause", "bot": bot})
    bus.events.append(Event(TRADES_CLOSED, "trade_closed", {"pnl": Decimal("12.5")}))
    for event in bus.events.read("notifier", "notifier-1", count=100, block_ms=1000): ...

See docs/bus.md for what each piece is for and what it guarantees.
"""

from botfleet.bus.api import Cache, EventStream, Lock, Locks, Message, PubSub, Subscription
from botfleet.bus.errors import (
    BusConfigError,
    BusConnectionError,
    BusError,
    BusValueError,
    LockBusy,
)
from botfleet.bus.event import Event
from botfleet.bus.factory import Bus, open_bus
from botfleet.bus.topics import (
    BREAKER_CHANGED,
    CHANNELS,
    CONTROL_CHANNEL,
    KILL_SWITCH_CHANNEL,
    KILLSWITCH_CHANGED,
    NOTIFICATIONS,
    ORDERS_PLACED,
    RISK_ALERTS,
    TOPICS,
    TRADES_CLOSED,
    TRADES_OPENED,
)

__all__ = [
    "BREAKER_CHANGED", "CHANNELS", "CONTROL_CHANNEL", "KILLSWITCH_CHANGED",
    "KILL_SWITCH_CHANNEL", "NOTIFICATIONS", "ORDERS_PLACED", "RISK_ALERTS", "TOPICS",
    "TRADES_CLOSED", "TRADES_OPENED", "Bus", "BusConfigError", "BusConnectionError",
    "BusError", "BusValueError", "Cache", "Event", "EventStream", "Lock", "LockBusy",
    "Locks", "Message", "PubSub", "Subscription", "open_bus",
]
