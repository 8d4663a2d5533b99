"""A local Binance spot REST endpoint, so the real ccxt client can be exercised without internet.

Mocking ccxt would test our assumptions about ccxt; serving HTTP tests ccxt itself: its URL
building, parameter names, paging, error mapping and throttling. The server runs an aiohttp app on
its own event loop in a background thread, bound to 127.0.0.1 on an ephemeral port, so it starts
in milliseconds inside a synchronous test and stops cleanly. aiohttp (rather than http.server)
leaves room for the WebSocket streams and order endpoints of the full simulator.

Every request passes one pipeline: count -> scripted fault -> weight limit -> handler. Handlers
only translate between HTTP parameters and `MarketData`; payload shapes live in `binance_format`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Self

from aiohttp import web

from botfleet.venue import binance_format as fmt
from botfleet.venue.faults import FaultPlan
from botfleet.venue.limits import WeightLimiter
from botfleet.venue.market import MarketData, market_id

Handler = Callable[["BinanceServer", web.Request], Awaitable[object]]

# Binance spot REQUEST_WEIGHT per endpoint (developers.binance.com, 2024-25).
WEIGHTS = {"/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20,
           "/api/v3/klines": 2}


class BinanceServer:
    def __init__(self, market: MarketData, *, host: str = "127.0.0.1", port: int = 0,
                 weight_limit: int = 6000, weight_clock: Callable[[], float] = time.time):
        self.market = market
        self.faults = FaultPlan()
        self.limiter = WeightLimiter(weight_limit, clock=weight_clock)
        self.requests: Counter[str] = Counter()  # path -> requests received, failed ones too
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("server not started")
        return f"http://{self._host}:{self._port}"

    def start(self) -> Self:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=f"binance-venue-{self._port}",
                                        daemon=True)
        self._thread.start()
        try:
            self._runner = asyncio.run_coroutine_threadsafe(
                self._setup(sock), self._loop).result(timeout=5)
        except BaseException:
            sock.close()
            self.stop()
            raise
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self._thread = self._loop = self._runner = None

    async def _setup(self, sock: socket.socket) -> web.AppRunner:
        app = web.Application(middlewares=[self._pipeline])
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    def _serve(self) -> None:
        """The server thread: run the loop until stop(), then close connections and the loop."""
        loop = self._loop
        asyncio.set_event_loop(loop)
        loop.run_forever()
        if self._runner is not None:
            loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget armed faults, used weight and request counts (between tests)."""
        self.faults.clear()
        self.limiter.reset()
        with self._lock:
            self.requests.clear()

    # --- request pipeline ------------------------------------------------------------------

    @web.middleware
    async def _pipeline(self, request: web.Request, handler) -> web.StreamResponse:
        # the app has no routes: every path, known or not, is answered here
        path = request.path
        with self._lock:
            self.requests[path] += 1
        fault = self.faults.take(path)
        if fault is not None:
            if fault.kind == "drop":
                request.transport.abort()  # aiohttp then fails to write this answer, quietly
                return web.Response(status=599)
            if fault.kind == "status":
                return web.Response(status=fault.status, text=fault.body)
            await asyncio.sleep(fault.delay_s)
        route = ROUTES.get(path)
        if route is None or request.method != "GET":
            return web.Response(status=404, text="<html><body><h1>404 Not Found</h1></body>"
                                                  "</html>", content_type="text/html")
        charge = self.limiter.charge(WEIGHTS.get(path, 1))
        headers = {"X-MBX-USED-WEIGHT-1M": str(charge.used), "X-MBX-USED-WEIGHT": str(charge.used)}
        try:
            if not charge.allowed:
                raise fmt.too_much_weight(self.limiter.limit, charge.retry_after)
            payload = await route(self, request)
        except fmt.BinanceError as err:
            return _json(err.body(), status=err.status, headers={**headers, **err.headers})
        return _json(payload, headers=headers)

    # --- endpoints -------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> dict:
        return {}

    async def _time(self, request: web.Request) -> dict:
        return {"serverTime": self.market.clock.now_ms()}

    async def _exchange_info(self, request: web.Request) -> dict:
        q = request.query
        symbols = self.market.symbols()
        if "symbol" in q or "symbols" in q:
            try:
                wanted = [q["symbol"]] if "symbol" in q else json.loads(q["symbols"])
            except ValueError:
                raise fmt.invalid_value("symbols") from None
            by_id = {market_id(s): s for s in symbols}
            if not isinstance(wanted, list) or any(w not in by_id for w in wanted):
                raise fmt.invalid_symbol()
            symbols = [by_id[w] for w in wanted]
        return fmt.exchange_info([(s, self.market.rules(s)) for s in symbols],
                                 self.market.clock.now_ms(), self.limiter.limit)

    async def _klines(self, request: web.Request) -> list:
        q = request.query
        if not q.get("symbol"):
            raise fmt.missing_param("symbol")
        if not q.get("interval"):
            raise fmt.missing_param("interval")
        symbol = self.market.symbol_for_id(q["symbol"])
        if symbol is None:
            raise fmt.invalid_symbol()
        interval = q["interval"]
        if interval not in fmt.INTERVALS:
            raise fmt.invalid_interval()
        limit = _int_param(q, "limit", fmt.DEFAULT_KLINES)
        if not 1 <= limit <= fmt.MAX_KLINES:
            raise fmt.invalid_value("limit")
        start, end = _int_param(q, "startTime"), _int_param(q, "endTime")
        if start is not None and end is not None and start > end:
            return []
        rows = self.market.klines(symbol, interval, start=start, end=end, limit=limit)
        return fmt.kline_rows(rows, interval)


ROUTES: dict[str, Handler] = {
    "/api/v3/ping": BinanceServer._ping,
    "/api/v3/time": BinanceServer._time,
    "/api/v3/exchangeInfo": BinanceServer._exchange_info,
    "/api/v3/klines": BinanceServer._klines,
}


def _int_param(q, name: str, default: int | None = None) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 20:
        raise fmt.illegal_chars(name)
    return int(raw)


def _json(payload: object, *, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, headers=headers,
                        text=json.dumps(payload, separators=(",", ":")),
                        content_type="application/json")
