"""ccxt clients built from an exchange's YAML: the one place that turns config into ccxt.

Market data needs no keys, so clients are public unless asked otherwise; credentials are
resolved from their references only then, and never kept in the config objects.
"""

from __future__ import annotations

import re

import ccxt

from botfleet.config.model import ExchangeConfig

_ORIGIN = re.compile(r"^https?://[^/]+")
# Binance also loads futures, margin and currency data by default; spot needs none of it.
SPOT_OPTIONS = {"binance": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                            "fetchCurrencies": False, "fetchMargins": False}}


def point_at(exchange: ccxt.Exchange, base_url: str) -> None:
    """Rewrite every REST URL of `exchange` (live, testnet, demo) to `base_url`, keeping paths."""
    origin = base_url.rstrip("/")
    for section in ("api", "test", "demo"):
        urls = exchange.urls.get(section)
        if isinstance(urls, dict):
            for key, url in urls.items():
                if isinstance(url, str):
                    urls[key] = _ORIGIN.sub(origin, url)


def make_client(cfg: ExchangeConfig, *, authenticated: bool = False,
                api_url: str | None = None) -> ccxt.Exchange:
    cls = getattr(ccxt, cfg.ccxt_id)
    options = dict(SPOT_OPTIONS.get(cfg.ccxt_id, {})) if cfg.market_type == "spot" else {}
    config: dict = {"enableRateLimit": cfg.rate_limit_enabled,
                    "timeout": int(cfg.timeout_seconds * 1000), "options": options}
    if authenticated:
        # bandit B105: ccxt's option names, not passwords
        names = {"api_key": "apiKey", "secret": "secret", "password": "password", "uid": "uid"}  # nosec B105
        config.update({names[k]: s.reveal() for k, s in cfg.credentials.items()})
    exchange = cls(config)
    if cfg.sandbox:
        exchange.set_sandbox_mode(True)
    if api_url or cfg.api_url:
        point_at(exchange, api_url or cfg.api_url)
    return exchange
