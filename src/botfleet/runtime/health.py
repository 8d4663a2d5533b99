"""The probes behind `/health` and `botfleet doctor`: state database, Redis, exchange, candles.

Each returns one `obs.health.Check` saying what is wrong and what to do about it, and never
raises (`obs.health.run_probes` also bounds each by a timeout). They live in `runtime/`
because they put pieces together (storage, bus, the ccxt client, the candle feed); `obs/` only
runs and reports them. The runner's health reuses the runner's own connections where it has
them, so probing adds one cheap request per service, not a connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from botfleet.obs.health import FAIL, OK, WARN, CachedHealth, Check

DB_FIX = ("check storage.state in fleet.yaml and that the database server is up "
          "(PostgreSQL: pg_isready -h HOST -p PORT)")


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def database(target, name: str = "database", *, need_head: bool = True) -> Check:
    """Reachable (SELECT 1) and migrated to the newest revision. `target`: URL or Engine."""
    import sqlalchemy as sa

    from botfleet.storage.db import current_revision, head_revision, state_engine, transaction
    from botfleet.storage.urls import is_memory, parse_url, redact, scrub

    owned = not isinstance(target, sa.Engine)
    try:
        if owned:
            url = parse_url(target)
            if url.get_backend_name() == "sqlite" and not is_memory(url) and \
                    not Path(url.database).exists():
                return Check(name, FAIL, f"{redact(url)}: no such file",
                             "create it: botfleet db upgrade (or fix storage.state)")
        engine = state_engine(target) if owned else target
    except Exception as exc:  # noqa: BLE001 - a bad URL is a failed check
        return Check(name, FAIL, _why(exc), DB_FIX)
    label = redact(engine.url)
    try:
        with transaction(engine) as conn:
            conn.execute(sa.text("SELECT 1"))
        if not need_head:
            return Check(name, OK, f"{label} reachable")
        current, head = current_revision(engine), head_revision()
    except Exception as exc:  # noqa: BLE001
        return Check(name, FAIL, f"{label}: {scrub(_why(exc), engine.url)}", DB_FIX)
    finally:
        if owned:
            engine.dispose()
    if current != head:
        return Check(name, FAIL, f"{label} is at migration {current or 'none'}, the code "
                     f"needs {head}", "run: botfleet db upgrade")
    return Check(name, OK, f"{label} reachable, migrations at head ({head})")


def redis(cache_url: str, name: str = "redis") -> Check:
    """The fleet's `storage.cache`: in process always answers; Redis must PING back."""
    from botfleet.bus import open_bus
    from botfleet.bus.urls import redact

    if not cache_url or cache_url.startswith("memory:"):
        return Check(name, OK, "in-process bus (storage.cache: memory://); no Redis needed")
    try:
        bus = open_bus(cache_url)
    except Exception as exc:  # noqa: BLE001
        return Check(name, FAIL, _why(exc), "fix storage.cache: redis://HOST:6379/0")
    try:
        t0 = time.perf_counter()
        bus.ping()
        return Check(name, OK, f"{redact(cache_url)} answered PING in "
                     f"{(time.perf_counter() - t0) * 1000:.1f} ms")
    except Exception as exc:  # noqa: BLE001
        return Check(name, FAIL, f"{redact(cache_url)}: {_why(exc)}",
                     "start Redis or fix storage.cache (redis-cli -h HOST -p PORT ping)")
    finally:
        bus.close()


def exchange(cfg, api_url: str | None = None, name: str | None = None) -> Check:
    """The exchange (or simulator) answers its server-time request (weight 1, no key)."""
    from botfleet.data.exchange_client import make_client

    name = name or f"exchange:{cfg.name}"
    where = api_url or cfg.api_url or f"{cfg.ccxt_id} (public API)"
    try:
        client = make_client(cfg, api_url=api_url)
        client.timeout = min(int(client.timeout or 10_000), 5_000)
        t0 = time.perf_counter()
        server_ms = client.fetch_time()
        took = (time.perf_counter() - t0) * 1000
    except Exception as exc:  # noqa: BLE001
        return Check(name, FAIL, f"{where}: {_why(exc)}",
                     "check the network, the exchange's status page, or the exchange file's "
                     "api_url (paper: is the simulator running? botfleet venue serve)")
    return Check(name, OK, f"{where} answered in {took:.0f} ms (server time {server_ms})")


def freshness(series: Iterable[tuple[str, int | None, int]], now_ms: int,
              stale_after_s: float | None = None, name: str = "data") -> Check:
    """`series`: (label, newest closed candle's close time in ms or None, timeframe ms). Stale
    beyond `stale_after_s` (default: two candles) fails; over one candle late warns."""
    late, stale, empty, n = [], [], [], 0
    for label, closed_ms, step in series:
        n += 1
        if closed_ms is None:
            empty.append(label)
            continue
        lag = (now_ms - closed_ms) / 1000
        limit = stale_after_s if stale_after_s is not None else 2 * step / 1000
        if lag > limit:
            stale.append(f"{label} {lag:,.0f}s behind")
        elif lag > step / 1000:
            late.append(f"{label} {lag:,.0f}s behind")
    if stale:
        return Check(name, FAIL, f"{len(stale)} of {n} series stale: {'; '.join(stale[:5])}",
                     "check candle ingestion (botfleet data fetch / the ingest flow) and the "
                     "exchange's status")
    if late or empty:
        parts = ([f"late: {'; '.join(late[:5])}"] if late else []) + \
            ([f"no candles yet: {', '.join(empty[:5])}"] if empty else [])
        return Check(name, WARN, "; ".join(parts),
                     "wait for the next close; if it stays, check ingestion")
    if not n:
        return Check(name, WARN, "no candle series read yet (no close since the start)")
    return Check(name, OK, f"{n} series fresh")


def feed_series(feed, now_ms: int) -> list[tuple[str, int | None, int]]:
    """The runner's candle windows as `freshness` reads them (no request)."""
    from botfleet.data.candles import next_open, timeframe_ms

    out = []
    for (exch, symbol, tf), newest in feed.newest().items():
        closed = next_open(newest, tf) if newest is not None else None
        step = 31 * 86_400_000 if tf.endswith("M") else timeframe_ms(tf)
        out.append((f"{exch} {symbol} {tf}", closed, step))
    return out


def runner_health(runner, *, ttl_s: float = 5.0) -> Callable[[], object]:
    """`/health` of a fleet runner: its state database, bus, exchanges and candle feed."""
    fleet = runner.fleet
    stale = fleet.observability.data_stale_after_s

    def probes() -> dict:
        out = {"database": lambda: database(runner.svc.ledger.engine),
               "redis": lambda: redis(fleet.storage.cache)}
        for name, link in getattr(runner, "links", {}).items():
            out[f"exchange:{name}"] = (lambda link=link: exchange(link.cfg, link.api_url))
        out["data"] = lambda: freshness(feed_series(runner.svc.feed, runner.clock.now_ms()),
                                        runner.clock.now_ms(), stale)
        return out

    cached = CachedHealth({}, ttl_s=ttl_s)

    def health():
        if runner.svc is None:
            from botfleet.obs.health import HealthReport
            return HealthReport((Check("runner", WARN, "starting"),))
        cached.probes = probes()
        return cached()

    return health
