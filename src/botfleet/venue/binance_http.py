"""A local Binance spot REST endpoint, so the real ccxt client can be exercised without internet.

Mocking ccxt would test our assumptions about ccxt; serving HTTP tests ccxt itself: its URL
building, signing, parameter names, paging, error mapping and throttling. The server runs an
aiohttp app on its own event loop in a background thread, bound to 127.0.0.1 on an ephemeral
port, so it starts in milliseconds inside a synchronous test and stops cleanly.

Every request passes one pipeline: count -> fault (unless armed to hit after processing) ->
latency -> route -> weight limit -> signature (SIGNED routes) -> handler -> after-processing
fault. Market-data handlers are here; trading ones in `trading_http`, the simulator's own
`/sim/v1/` controls (clock, faults) in `control_http`. Every answer carries
`X-Botfleet-Market` saying whether the market is recorded or SYNTHETIC (and its seed).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Self
from urllib.parse import parse_qsl

from aiohttp import web

from botfleet.data.candles import now_ms
from botfleet.sim.fillmodel import FillModel
from botfleet.venue import binance_format as fmt
from botfleet.venue import control_http
from botfleet.venue.accounts import Account, Accounts
from botfleet.venue.auth import authenticate
from botfleet.venue.exchange import SimExchange
from botfleet.venue.faults import Fault, FaultPlan
from botfleet.venue.limits import OrderLimiter, WeightLimiter
from botfleet.venue.market import MarketData, market_id
from botfleet.venue.matching import warm_up
from botfleet.venue.trading_http import ROUTES as TRADING_ROUTES
from botfleet.venue.trading_http import Route, fixed

NOT_FOUND = "<html><body><h1>404 Not Found</h1></body></html>"


class BinanceServer:
    """The venue: `market` served and traded under its clock (`market.clock`).

    `fills` is the backtest's fill model (fees, slippage, volume cap), `timeframe` the candles
    orders are matched on, `fill_timing` "next_open" (the backtest's) or "immediate" (see
    `exchange`), `order_limit` new orders per account per 10 s (Binance's 100; 0: none).
    The in-process API for tests and the bot harness: `exchange` (orders,
    balances, fills), `accounts`, `faults`, `advance()`/`set_time()` for the clock."""

    def __init__(self, market: MarketData, *, host: str = "127.0.0.1", port: int = 0,
                 weight_limit: int = 6000, weight_clock: Callable[[], float] = time.time,
                 accounts: Accounts | None = None, fills: FillModel | None = None,
                 timeframe: str = "1h", fill_timing: str = "next_open",
                 order_limit: int = 100, wall_ms: Callable[[], int] = now_ms):
        self.market = market
        self.exchange = SimExchange(market, accounts=accounts, fills=fills, timeframe=timeframe,
                                    fill_timing=fill_timing, faults=FaultPlan())
        self.limiter = WeightLimiter(weight_limit, clock=weight_clock)
        self.order_limiter = OrderLimiter(order_limit, clock=weight_clock)
        self.requests: Counter[str] = Counter()  # path -> requests received, failed ones too
        self._wall_ms = wall_ms
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        label = market.label
        self._label = str(label.get("market", "")) + "".join(
            f"; {k}={v}" for k, v in label.items() if k != "market")

    @property
    def faults(self) -> FaultPlan:
        return self.exchange.faults

    @property
    def accounts(self) -> Accounts:
        return self.exchange.accounts

    @property
    def clock(self):
        return self.market.clock

    def add_account(self, name: str, balances: dict | None = None, **keys) -> Account:
        return self.exchange.accounts.create(name, balances, **keys)

    def advance(self, ms: int) -> int:
        """Move the shared clock forward and settle every bar event up to the new time."""
        return self.exchange.advance(ms)

    def set_time(self, ms: int) -> int:
        return self.exchange.set_time(ms)

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
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=f"binance-venue-{self._port}",
                                        daemon=True)
        self._thread.start()
        # load the compiled fill rules while clients are still connecting
        threading.Thread(target=warm_up, name="venue-warm-up", daemon=True).start()
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
        await web.SockSite(runner, sock, backlog=1024).start()
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
        self.order_limiter.reset()
        with self._lock:
            self.requests.clear()

    # --- request pipeline ------------------------------------------------------------------

    @web.middleware
    async def _pipeline(self, request: web.Request, handler) -> web.StreamResponse:
        # the app has no routes: every path, known or not, is answered here
        path, method = request.path, request.method
        with self._lock:
            self.requests[path] += 1
        if path.startswith("/sim/"):
            return await control_http.handle(self, request)
        fault = self.faults.take(path, method)
        if fault is not None and not fault.processed:
            early = await _apply(request, fault)
            if early is not None:
                return early
        delay = self.faults.latency_for(path)
        if delay > 0:
            await asyncio.sleep(delay)
        response = await self._dispatch(request, path, method)
        if fault is not None and fault.processed:
            late = await _apply(request, fault)
            if late is not None:
                return late
        return response

    async def _dispatch(self, request: web.Request, path: str, method: str) -> web.Response:
        route = ROUTES.get((method, path))
        if route is None:
            return web.Response(status=404, text=NOT_FOUND, content_type="text/html")
        raw_query = request.rel_url.raw_query_string
        raw_body = (await request.read()).decode() if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw_body:
            params.update(parse_qsl(raw_body, keep_blank_values=True))
        headers = {"X-Botfleet-Market": self._label}
        try:
            charge = self.limiter.charge(route.weight(params))
            headers["X-MBX-USED-WEIGHT-1M"] = headers["X-MBX-USED-WEIGHT"] = str(charge.used)
            if not charge.allowed:
                raise fmt.too_much_weight(self.limiter.limit, charge.retry_after)
            account = None
            if route.signed:
                account = authenticate(self.accounts, request.headers, raw_query, raw_body,
                                       params, wall_ms=self._wall_ms)
                if route.counts_order:
                    orders = self.order_limiter.charge(account.api_key)
                    headers["X-MBX-ORDER-COUNT-10S"] = str(orders.used)
                    if not orders.allowed:
                        raise fmt.too_many_orders(self.order_limiter.limit, orders.retry_after)
            payload = await route.handler(self, params, account)
        except fmt.BinanceError as err:
            return _json(err.body(), status=err.status, headers={**headers, **err.headers})
        return _json(payload, headers=headers)


async def _apply(request: web.Request, fault: Fault) -> web.Response | None:
    """Carry out a fault: an answer replacing the real one, or None to go on (after a delay)."""
    if fault.kind == "drop":
        request.transport.abort()  # aiohttp then fails to write this answer, quietly
        return web.Response(status=599)
    if fault.kind == "status":
        return web.Response(status=fault.status, text=fault.body, headers=dict(fault.headers),
                            content_type="application/json" if fault.json else "text/plain")
    await asyncio.sleep(fault.delay_s)
    return None


# --- market data -------------------------------------------------------------------------------

async def _ping(server: BinanceServer, params: dict, account) -> dict:
    return {}


async def _time(server: BinanceServer, params: dict, account) -> dict:
    return {"serverTime": server.market.clock.now_ms()}


async def _exchange_info(server: BinanceServer, params: dict, account) -> dict:
    market = server.market
    symbols = market.symbols()
    if "symbol" in params or "symbols" in params:
        try:
            wanted = [params["symbol"]] if "symbol" in params else json.loads(params["symbols"])
        except ValueError:
            raise fmt.invalid_value("symbols") from None
        by_id = {market_id(s): s for s in symbols}
        if not isinstance(wanted, list) or any(w not in by_id for w in wanted):
            raise fmt.invalid_symbol()
        symbols = [by_id[w] for w in wanted]
    ex = server.exchange
    info = fmt.exchange_info([(s, market.rules(s)) for s in symbols], market.clock.now_ms(),
                             server.limiter.limit,
                             status={s: "TRADING" if ex.tradable(s) else "BREAK"
                                     for s in symbols},
                             order_limit=server.order_limiter.limit or 1_000_000)
    info["simulator"] = {**market.label, "timeframe": ex.timeframe,
                         "fill_timing": ex.fill_timing}
    return info


async def _klines(server: BinanceServer, q: dict, account) -> list:
    if not q.get("symbol"):
        raise fmt.missing_param("symbol")
    if not q.get("interval"):
        raise fmt.missing_param("interval")
    symbol = server.market.symbol_for_id(q["symbol"])
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
    rows = server.market.klines(symbol, interval, start=start, end=end, limit=limit)
    return fmt.kline_rows(rows, interval)


# Binance spot REQUEST_WEIGHT per endpoint (developers.binance.com, 2024-25).
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v3/ping"): Route(_ping, fixed(1)),
    ("GET", "/api/v3/time"): Route(_time, fixed(1)),
    ("GET", "/api/v3/exchangeInfo"): Route(_exchange_info, fixed(20)),
    ("GET", "/api/v3/klines"): Route(_klines, fixed(2)),
    **TRADING_ROUTES,
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
