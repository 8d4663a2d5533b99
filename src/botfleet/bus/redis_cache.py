"""The Redis TTL cache: GET/MGET, SET PX, pipelined for many keys.

Values are tagged bytes (`botfleet.bus.codec.pack`) so bytes and JSON come back as they were
given; every write carries its TTL in milliseconds, so nothing cached outlives its writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botfleet.bus import checks
from botfleet.bus.codec import pack, unpack
from botfleet.bus.redis_conn import RedisConn


class RedisCache:
    def __init__(self, conn: RedisConn, prefix: str):
        self._conn = conn
        self._prefix = prefix + "cache:"

    def _key(self, key: str) -> str:
        return self._prefix + checks.name(key, "cache key")

    def get(self, key: str, default: Any = None) -> Any:
        full = self._key(key)
        with self._conn.guard(f"cache get {key!r}"):
            data = self._conn.fast.get(full)
        return default if data is None else unpack(data)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not keys:
            return {}
        fulls = [self._key(k) for k in keys]
        with self._conn.guard(f"cache get_many ({len(keys)} keys)"):
            found = self._conn.fast.mget(fulls)
        return {k: unpack(v) for k, v in zip(keys, found, strict=True) if v is not None}

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        ttl = checks.ttl_ms(ttl_s, "cache set")
        full, data = self._key(key), pack(value, f"cache value {key!r}")
        with self._conn.guard(f"cache set {key!r}"):
            self._conn.fast.set(full, data, px=ttl)

    def set_many(self, values: Mapping[str, Any], ttl_s: float) -> None:
        ttl = checks.ttl_ms(ttl_s, "cache set")
        packed = [(self._key(k), pack(v, f"cache value {k!r}")) for k, v in values.items()]
        if not packed:
            return
        with self._conn.guard(f"cache set_many ({len(packed)} keys)"):
            pipe = self._conn.fast.pipeline(transaction=False)
            for full, data in packed:
                pipe.set(full, data, px=ttl)
            pipe.execute()

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        fulls = [self._key(k) for k in keys]
        with self._conn.guard(f"cache delete ({len(keys)} keys)"):
            return int(self._conn.fast.delete(*fulls))
