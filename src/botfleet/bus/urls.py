"""`storage.cache` URLs: which backend, and no password in anything printed.

The embedded default is `memory://` (one process, nothing to run); `redis://`, `rediss://`
(TLS) and `unix://` (a socket path) select Redis. A URL is checked when the bus is opened, not
at the first command, so a typo fails at startup with the setting named rather than minutes
later inside a trading cycle.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from botfleet.bus.errors import BusConfigError

MEMORY_URL = "memory://"
REDIS_SCHEMES = ("redis", "rediss", "unix")
EXPECTED = "expected memory:// or redis://[:password@]host:port/db"
_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*):[^@/]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with any password replaced by `***`; works on text that does not parse, since a
    mistyped URL still carries its secret."""
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", str(url)))


def password_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
    except ValueError:
        return None
    return parts.password or query.get("password") or None


def scrub(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the URL's password removed if it appears."""
    password = password_of(url)
    return text.replace(password, "***") if password else text


def backend_of(url: object) -> str:
    """"memory" or "redis" for a valid `storage.cache` URL; otherwise BusConfigError saying
    what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise BusConfigError(f"storage.cache: {url!r} is not a URL; {EXPECTED}")
    shown = redact(url)
    if url == MEMORY_URL:
        return "memory"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BusConfigError(f"storage.cache: {shown!r} does not parse ({exc}); {EXPECTED}") \
            from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        raise BusConfigError(f"storage.cache: {shown!r}: the in-process cache takes no host, "
                             f"path or options; write exactly {MEMORY_URL}")
    if scheme not in REDIS_SCHEMES:
        raise BusConfigError(f"storage.cache: {shown!r}: unknown scheme {parts.scheme!r}; "
                             f"{EXPECTED}")
    if scheme == "unix":
        if not parts.path:
            raise BusConfigError(f"storage.cache: {shown!r}: a unix:// URL needs the socket "
                                 "path, e.g. unix:///run/redis.sock?db=0")
        return "redis"
    if not parts.hostname:
        raise BusConfigError(f"storage.cache: {shown!r}: no host; {EXPECTED}")
    if port == 0:
        raise BusConfigError(f"storage.cache: {shown!r}: port 0 is not a port; {EXPECTED}")
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise BusConfigError(f"storage.cache: {shown!r}: the database after the port must be "
                             f"a number (got {db!r}); {EXPECTED}")
    return "redis"
