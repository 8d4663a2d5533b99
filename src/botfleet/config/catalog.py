"""What ccxt knows about exchanges (ids, timeframes), without paying for `import ccxt`.

Importing ccxt takes about two seconds, longer than the whole validation of a large fleet may
take. So the ids and timeframes are kept in `ccxt_catalog.json`, written from the installed
ccxt by `python -m botfleet.config.catalog`; a test fails when it no longer matches. When the
installed ccxt is a different version from the snapshot's, we ask ccxt itself.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("ccxt_catalog.json")


def installed_ccxt_version() -> str | None:
    try:
        return version("ccxt")
    except PackageNotFoundError:
        return None


def build_catalog() -> dict:
    """Ask the installed ccxt (slow: imports it and instantiates every exchange class)."""
    import ccxt

    exchanges = {}
    for exchange_id in ccxt.exchanges:
        try:
            instance = getattr(ccxt, exchange_id)()
            exchanges[exchange_id] = sorted((instance.timeframes or {}).keys())
        except Exception:  # an exchange class that cannot be built offline  # noqa: BLE001
            exchanges[exchange_id] = []
    return {"ccxt_version": ccxt.__version__, "exchanges": exchanges}


@lru_cache(maxsize=1)
def catalog() -> dict:
    """Exchange id -> supported timeframes (empty list: unknown, so every timeframe passes)."""
    if SNAPSHOT.exists():
        snap = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
        if snap.get("ccxt_version") == installed_ccxt_version():
            return snap["exchanges"]
    if installed_ccxt_version() is None:
        return {}
    return build_catalog()["exchanges"]


def exchange_ids() -> list[str]:
    return sorted(catalog())


def timeframes(exchange_id: str) -> list[str]:
    return catalog().get(exchange_id, [])


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    SNAPSHOT.write_text(json.dumps(build_catalog(), indent=1, sort_keys=True) + "\n",
                        encoding="utf-8")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
