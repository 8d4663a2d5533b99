"""A real `ccxt.binance` wired to a local venue instead of api.binance.com.

Ingestion code should be handed an ordinary ccxt exchange object and never know it talks to a
simulator; this is the one place that knows how to re-point one. All of ccxt's REST base URLs
(spot, margin, futures, options) are rewritten to the local server, so a call this venue does not
implement fails locally with a 404 instead of reaching the internet. Market loading is restricted
to spot because the venue serves no futures/margin exchangeInfo, and client-side throttling stays
on so paging behaves as in production.
"""

from __future__ import annotations

import json
import re

import ccxt

from botfleet.data.exchange_client import SPOT_OPTIONS, point_at

SPOT_ONLY_OPTIONS = {**SPOT_OPTIONS["binance"], "adjustForTimeDifference": False}


def binance_client(base_url: str, **config) -> ccxt.binance:
    """`ccxt.binance(config)` talking to `base_url` (e.g. `BinanceServer.base_url`).

    `config` is ordinary ccxt configuration (`rateLimit=`, `timeout=`, ...); its `options` are
    merged over the spot-only defaults."""
    options = {**SPOT_ONLY_OPTIONS, **config.pop("options", {})}
    exchange = ccxt.binance({"enableRateLimit": True, **config, "options": options})
    point_at(exchange, base_url)
    return exchange


class SimClock:
    """The venue's shared clock as a bot in another process sees it, through its own ccxt
    client: `now_ms()` is Binance's `/api/v3/time`; moving the clock uses the simulator-only
    `/sim/v1/clock` (see `control_http`), which settles every bar event up to the new time
    before answering. Only meaningful against the simulator, never a real exchange."""

    def __init__(self, exchange: ccxt.Exchange):
        self._exchange = exchange
        match = re.match(r"^https?://[^/]+", exchange.urls["api"]["public"])
        if match is None:
            raise ValueError("the ccxt client has no http(s) base URL")
        self.url = match.group(0) + "/sim/v1/clock"

    def now_ms(self) -> int:
        return int(self._exchange.fetch_time())

    def state(self) -> dict:
        return self._call("GET", None)

    def advance(self, ms: int) -> int:
        return int(self._post({"advance": int(ms)})["now"])

    def set(self, ms: int) -> int:
        return int(self._post({"set": int(ms)})["now"])

    def set_speed(self, speed: float, start_ms: int | None = None) -> dict:
        body: dict = {"speed": float(speed)}
        if start_ms is not None:
            body["start"] = int(start_ms)
        return self._post(body)

    def _post(self, body: dict) -> dict:
        return self._call("POST", json.dumps(body))

    def _call(self, method: str, body: str | None) -> dict:
        """The simulator's answer; its refusals (HTTP 400 with {"error": ...}) as ValueError."""
        try:
            return self._exchange.fetch(self.url, method, {"Content-Type": "application/json"},
                                        body)
        except ccxt.BaseError:
            try:
                error = json.loads(self._exchange.last_http_response or "{}").get("error")
            except ValueError:
                error = None
            if error:
                raise ValueError(f"simulator clock: {error}") from None
            raise
