"""The bus's errors: one family, so a caller can catch "the bus failed" without knowing Redis.

A trading loop that loses Redis must get one exception type it can handle (log, carry on with
the state database as the source of truth) rather than a driver-specific zoo; and every message
names the setting (`storage.cache`) and the URL with its password hidden, because these
messages end up in logs and bug reports.
"""

from __future__ import annotations


class BusError(RuntimeError):
    """The cache / lock / pub-sub / event-stream layer could not do what was asked."""


class BusConnectionError(BusError):
    """Redis could not be reached or the connection dropped; the next call reconnects."""


class BusConfigError(BusError, ValueError):
    """`storage.cache` is not a URL the bus understands."""


class BusValueError(BusError, ValueError):
    """An argument the bus cannot store or send as given (a key, a TTL, a payload)."""


class LockBusy(BusError):
    """Raised by `with lock:` when another holder has the lock (a cycle is still running)."""
