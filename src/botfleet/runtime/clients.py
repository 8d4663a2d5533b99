"""One exchange as the fleet runner uses it: ccxt clients, their markets, the request budget.

Bots' cycles run in worker threads, and a sync ccxt client keeps per-request state (its
session, `last_response_headers`, its throttle's timestamps), so no client is shared between
threads: candle fetches use one client per thread (`client()`), each bot trades through a
client of its own (`trading_client()`). The markets are loaded once per exchange and handed to
the others with `set_markets`, so a hundred bots cost one `exchangeInfo`.

Pacing is the fleet's, not ccxt's: ccxt computes each request's cost and calls the client's
`throttle(cost)`, which here takes the request's weight from the exchange's `WeightBudget`
(shared by every bot of the process on that exchange, under `rate_limit.max_weight_share` of
the exchange's weight per minute) and, when `rate_limit.requests_per_second` is set, a slot
from a pacer. ccxt's own throttle spaces each client's calls by `rateLimit` ms on its own,
which neither knows about the other clients nor lets a burst of candle fetches through at a
close. `rate_limit.enabled: false` turns the pacing off.

Credentials are resolved when the link is built (`resolve_credentials`), so a missing
`${env:BINANCE_API_KEY}` stops `botfleet live` at start, naming the variable, rather than
failing later inside a thread.
"""

from __future__ import annotations

import threading
import time

import ccxt

from botfleet.config.model import ExchangeConfig
from botfleet.config.refs import SecretMissing
from botfleet.data.budget import KNOWN_LIMITS, WeightBudget
from botfleet.data.exchange_client import make_client
from botfleet.obs.instrument import budget_used

# bandit B105: ccxt's option names, not passwords
CCXT_KEYS = {"api_key": "apiKey", "secret": "secret", "password": "password", "uid": "uid"}  # nosec B105


class CredentialsError(LookupError):
    """An exchange's credentials cannot be resolved; the message names the reference."""


def resolve_credentials(cfg: ExchangeConfig) -> dict[str, str]:
    """The exchange's `credentials:` references resolved to ccxt's keys (apiKey, secret...)."""
    if not cfg.credentials:
        raise CredentialsError(f"exchange {cfg.name} ({cfg.source}): no credentials declared; "
                               "add credentials: {api_key: ${env:NAME}, secret: ${env:NAME}}")
    out = {}
    for key, secret in cfg.credentials.items():
        try:
            out[CCXT_KEYS.get(key, key)] = secret.reveal()
        except SecretMissing as exc:
            raise CredentialsError(f"exchange {cfg.name} ({cfg.source}): credentials.{key}: "
                                   f"{exc}") from None
    return out


class Pacer:
    """At most `per_second` requests per second across threads (a hard ceiling)."""

    def __init__(self, per_second: float):
        if per_second <= 0:
            raise ValueError("requests_per_second must be above 0")
        self.gap = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.gap
        if slot > now:
            time.sleep(slot - now)


class ExchangeLink:
    """`cfg` as ccxt clients pointed at `api_url` (else the config's own), with `credentials`
    (ccxt keys) when the bots trade. `budget` defaults to a fresh one per link: a runner owns
    its links, so two runners in one test process do not share a minute's weight."""

    def __init__(self, cfg: ExchangeConfig, *, api_url: str | None = None,
                 credentials: dict[str, str] | None = None,
                 budget: WeightBudget | None = None, timeout_s: float | None = None):
        self.cfg = cfg
        self.name = cfg.name
        self.api_url = api_url
        self.credentials = dict(credentials or {})
        self.timeout_ms = int((timeout_s if timeout_s is not None else cfg.timeout_seconds)
                              * 1000)
        limit = KNOWN_LIMITS.get(cfg.ccxt_id, 1200)
        self.budget = budget or WeightBudget(limit, float(cfg.max_weight_share.fraction))
        self.pacer = Pacer(float(cfg.requests_per_second)) if cfg.requests_per_second else None
        self._local = threading.local()
        self._markets_lock = threading.Lock()
        self._markets: tuple[dict, dict] | None = None

    def _new_client(self, credentials: dict[str, str] | None = None) -> ccxt.Exchange:
        client = make_client(self.cfg, api_url=self.api_url)
        # every request is paced by the link (see the docstring): ccxt computes each request's
        # cost and calls `throttle(cost)`, which here takes its weight from the budget
        client.enableRateLimit = self.cfg.rate_limit_enabled
        # ccxt's cost 1 is one request at its `rateLimit` spacing; the exchange's weight per
        # minute (Binance: 6000 against ccxt's 1200 requests) gives the weight of a cost unit
        nominal = KNOWN_LIMITS.get(self.cfg.ccxt_id, 60_000 / client.rateLimit)
        unit = nominal * client.rateLimit / 60_000
        client.throttle = lambda cost=None: self.spend(max(1, round((cost or 1) * unit)))
        client.timeout = self.timeout_ms
        for key, value in (self.credentials if credentials is None else credentials).items():
            setattr(client, key, value)
        return client

    def _with_markets(self, client: ccxt.Exchange) -> ccxt.Exchange:
        if not client.markets:
            with self._markets_lock:
                if self._markets is None:
                    keep = client.enableLastJsonResponse
                    client.enableLastJsonResponse = True  # to read exchangeInfo's rateLimits
                    try:
                        client.load_markets()
                        self._adopt_limit(client.last_json_response)
                    finally:
                        client.enableLastJsonResponse = keep
                    self._markets = (client.markets, client.currencies)
                else:
                    client.set_markets(*self._markets)
        return client

    def _adopt_limit(self, info) -> None:
        """The weight per minute the exchange publishes (Binance's exchangeInfo
        `rateLimits`, REQUEST_WEIGHT) replaces the built-in figure: the budget is a share of
        what this exchange (or simulator) actually allows."""
        if not isinstance(info, dict):
            return
        for rule in info.get("rateLimits") or []:
            if rule.get("rateLimitType") == "REQUEST_WEIGHT" and rule.get("interval") == \
                    "MINUTE" and int(rule.get("intervalNum", 1)) == 1:
                self.budget.limit = int(rule["limit"])

    def client(self) -> ccxt.Exchange:
        """This thread's client (market data), its markets loaded once per exchange."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
        return self._with_markets(client)

    def trading_client(self, credentials: dict[str, str] | None = None) -> ccxt.Exchange:
        """A client of its own for one bot (a bot's cycles never overlap, so it is never used
        by two threads at once), with `credentials` (default: the link's)."""
        return self._with_markets(self._new_client(credentials))

    def spend(self, weight: int = 1) -> None:
        """Take `weight` from the budget (and a pacer slot) before a request."""
        self.budget.acquire(weight)
        budget_used(self.name, self.budget.used, self.budget.allowed)
        if self.pacer is not None:
            self.pacer.wait()

    def observe(self, client: ccxt.Exchange) -> None:
        """Take the exchange's own count of the weight used (Binance's header)."""
        self.budget.observe(getattr(client, "last_response_headers", None))
        budget_used(self.name, self.budget.used, self.budget.allowed)
