"""The simulator's own control endpoints, under `/sim/v1/` — NOT part of Binance's API.

A bot replaying history in another process must read and drive the shared clock (step to the
next bar, then trade), and a soak test must switch faults on without restarting the venue. These
endpoints are unauthenticated (the venue listens on loopback), never faulted, never weighted,
and no Binance client would call them. Bodies are JSON (or form fields); answers are JSON.

- `GET /sim/v1/clock` -> `{"now": ms, "mode": "manual"|"replay"|"wall", "speed": x}`
- `POST /sim/v1/clock` with one of `{"advance": ms}`, `{"set": ms}`, `{"speed": x, "start":
  ms?}` (speed 0 freezes the clock), `{"wall": true}`; every pending bar event up to the new
  time is settled before the answer, so orders' fills are visible at once.
- `GET /sim/v1/faults` -> pending scripted faults, faults fired, the ban's end.
- `POST /sim/v1/faults` with `{"profile": "seed=1,5xx=1%,..."}` (see `fault_profile`) or
  `{"clear": true}`.
- `GET /sim/v1/info` -> the market (recorded or SYNTHETIC, its seed), matching timeframe, fill
  timing, fees, account names.
"""

from __future__ import annotations

import json

from aiohttp import web

from botfleet.venue.fault_profile import FaultProfile


def clock_state(server) -> dict:
    return server.exchange.clock.state()


def clock_move(server, body: dict) -> dict:
    ex = server.exchange
    keys = {"advance", "set", "speed", "wall"} & set(body)
    if len(keys) != 1:
        raise ValueError("send exactly one of advance, set, speed, wall")
    (key,) = keys
    with ex.lock:
        if key == "advance":
            ex.advance(_int(body, "advance"))
        elif key == "set":
            ex.set_time(_int(body, "set"))
        elif key == "speed":
            start = _int(body, "start") if body.get("start") is not None else None
            ex.clock.set_speed(float(body["speed"]), start_ms=start)
            ex.settle()
        else:
            ex.clock.set(None)
            ex.settle()
        return ex.clock.state()


def faults_state(server) -> dict:
    plan = server.faults
    return {"pending": plan.pending, "fired": len(plan.fired),
            "banned_until_ms": int(plan.banned_until * 1000),
            "profile": plan.profile is not None}


def faults_set(server, body: dict) -> dict:
    if body.get("clear"):
        server.faults.clear()
    elif "profile" in body:
        server.faults.profile = FaultProfile.parse(body["profile"])
    else:
        raise ValueError("send {\"profile\": \"key=value,...\"} or {\"clear\": true}")
    return faults_state(server)


def info(server) -> dict:
    ex = server.exchange
    return {"market": ex.market.label, "timeframe": ex.timeframe,
            "fill_timing": ex.fill_timing, "fees": {"maker": str(ex.maker_rate),
                                                    "taker": str(ex.taker_rate)},
            "fill_model": ex.fills.describe(), "accounts": [a.name for a in ex.accounts],
            "clock": ex.clock.state()}


CONTROL = {
    ("GET", "/sim/v1/clock"): lambda server, body: clock_state(server),
    ("POST", "/sim/v1/clock"): clock_move,
    ("GET", "/sim/v1/faults"): lambda server, body: faults_state(server),
    ("POST", "/sim/v1/faults"): faults_set,
    ("GET", "/sim/v1/info"): lambda server, body: info(server),
}


async def handle(server, request: web.Request) -> web.Response:
    route = CONTROL.get((request.method, request.path))
    if route is None:
        return _answer({"error": f"no simulator endpoint {request.method} {request.path}"},
                       404)
    try:
        body = await _body(request)
        return _answer(route(server, body))
    except (ValueError, TypeError, RuntimeError) as err:
        return _answer({"error": str(err)}, 400)


async def _body(request: web.Request) -> dict:
    body: dict = dict(request.query)
    if request.can_read_body:
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                parsed = json.loads(raw)
                if not isinstance(parsed, dict):
                    raise ValueError("the body must be a JSON object")
                body.update(parsed)
            else:
                body.update((await request.post()).items())
    return body


def _int(body: dict, key: str) -> int:
    value = body[key]
    if isinstance(value, bool):
        raise TypeError(f"{key} must be an integer number of ms")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an integer number of ms, got {value!r}") from None


def _answer(payload: dict, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)
