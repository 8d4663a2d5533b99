"""`botfleet doctor`'s checks: everything an installation needs, each verdict with its fix.

One function per concern, each returning `obs.health.Check`s, run together under a timeout by
`obs.health.run_probes` (a database that hangs must not hang the doctor). Credentials are
resolved to prove they can be, never shown. The runner's `/health` shares the service probes
(`runtime.health`), so the doctor and the endpoint agree about what "down" means.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from botfleet.obs.health import FAIL, OK, WARN, Check
from botfleet.runtime import health


def config_check(path: Path) -> tuple[Check, object | None]:
    """The fleet loaded and checked as `botfleet validate` checks it; (check, load or None)."""
    from botfleet.runtime.reload import load_checked

    try:
        load = load_checked(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is the verdict
        return Check("config", FAIL, f"{path}: {type(exc).__name__}: {exc}",
                     "fix the file, then: botfleet validate"), None
    if not load.ok or load.fleet is None:
        first = "; ".join(str(p) for p in load.errors[:3])
        return Check("config", FAIL, f"{len(load.errors)} problem(s): {first}",
                     f"botfleet validate {path} lists them all with their fixes"), None
    fleet = load.fleet
    return Check("config", OK, f"{path}: {len(fleet.bots)} bot(s), {len(fleet.exchanges)} "
                 f"exchange(s), valid"), load


def candle_checks(fleet, now_ms: int | None = None) -> list[Check]:
    """The candle store answers and holds recent candles of every enabled bot's pairs."""
    from botfleet.data.candles import next_open, timeframe_ms
    from botfleet.data.store import open_store
    from botfleet.storage.urls import redact

    url = fleet.storage.candles
    label = redact(url)
    if url.startswith("sqlite:///") and ":memory:" not in url and \
            not Path(url.removeprefix("sqlite:///")).exists():
        return [Check("candles", FAIL, f"{label}: no such file",
                      "fetch the bots' candles: botfleet data fetch")]
    try:
        with open_store(url) as store:
            have = {c.key: c for c in store.coverage()}
    except Exception as exc:  # noqa: BLE001
        return [Check("candles", FAIL, f"{label}: {type(exc).__name__}: {exc}"[:300],
                      "check storage.candles in fleet.yaml and that its server is up")]
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    stale_s = fleet.observability.data_stale_after_s
    missing, series = [], []
    for bot in fleet.enabled_bots():
        step = 31 * 86_400_000 if bot.timeframe.endswith("M") else timeframe_ms(bot.timeframe)
        for pair in bot.pairs:
            key = next((k for k in have if (k.exchange, k.symbol, k.timeframe)
                        == (bot.exchange, pair, bot.timeframe)), None)
            name = f"{bot.exchange} {pair} {bot.timeframe}"
            if key is None:
                missing.append(f"{name} (bot {bot.name})")
            else:
                series.append((name, next_open(have[key].last, bot.timeframe), step))
    out = [Check("candle store", OK, f"{label} reachable, {len(have)} series")]
    if missing:
        out.append(Check("candles", FAIL, f"no candles for {len(missing)} bot series: "
                         f"{', '.join(sorted(set(missing))[:6])}",
                         "botfleet data fetch (fetches what the enabled bots need)"))
    if series:
        seen = {s[0]: s for s in series}
        fresh = health.freshness(seen.values(), now, stale_s, "candle freshness")
        if fresh.status == FAIL:  # old recorded data is fine for research: a warning
            fresh = Check(fresh.name, WARN, fresh.detail,
                          "botfleet data fetch brings the store up to date (the runner "
                          "fetches its own candles from the exchange)")
        out.append(fresh)
    return out


def exchange_checks(fleet, venue: str | None = None) -> list[Callable[[], Check]]:
    """Probes of the exchanges the enabled paper and live bots trade on."""
    probes = []
    for name in sorted({b.exchange for b in fleet.enabled_bots() if b.mode in ("paper",
                                                                                 "live")}):
        cfg = fleet.exchanges[name]
        modes = {b.mode for b in fleet.enabled_bots() if b.exchange == name}
        if "live" in modes:
            probes.append(lambda cfg=cfg: health.exchange(cfg))
        if "paper" in modes:
            url = venue or cfg.api_url
            if url:
                probes.append(lambda cfg=cfg, url=url: health.exchange(
                    cfg, url, f"simulator:{cfg.name}"))
            else:
                probes.append(lambda name=name: Check(
                    f"simulator:{name}", WARN, "paper bots trade on a simulator named at start "
                    "(--venue URL or --replay); not checked",
                    "botfleet doctor --venue URL checks a running one"))
    return probes


def credential_checks(fleet) -> list[Check]:
    """Every live bot's exchange credentials resolve (values never shown)."""
    from botfleet.runtime.clients import CredentialsError, resolve_credentials

    out = []
    for name in sorted({b.exchange for b in fleet.enabled_bots() if b.mode == "live"}):
        cfg = fleet.exchanges[name]
        try:
            keys = resolve_credentials(cfg)
        except CredentialsError as exc:
            out.append(Check(f"credentials:{name}", FAIL, str(exc),
                             "export the variable (or add the secret) the message names"))
            continue
        out.append(Check(f"credentials:{name}", OK, f"{', '.join(sorted(cfg.credentials))} "
                         f"resolved ({len(keys)} value(s), not shown)"))
    return out


def prefect_check() -> Check | None:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return None
    target = url.rstrip("/") + "/health"
    try:
        # bandit B310: PREFECT_API_URL, the operator's own server (http or https)
        with urllib.request.urlopen(target, timeout=5) as resp:  # nosec B310
            ok = resp.status == 200
    except Exception as exc:  # noqa: BLE001
        return Check("prefect", FAIL, f"PREFECT_API_URL {url}: {type(exc).__name__}: {exc}",
                     "start the Prefect server (botfleet up / docker compose up prefect-server) "
                     "or unset PREFECT_API_URL to use a temporary local one")
    return Check("prefect", OK if ok else FAIL, f"{url} /health answered",
                 "" if ok else "the Prefect server is unhealthy; see its logs")


def chromium_check() -> Check:
    from botfleet.reports.pdf import ChromiumNotFound, find_chromium

    try:
        return Check("chromium", OK, f"{find_chromium()} (PDF reports)")
    except ChromiumNotFound as exc:
        return Check("chromium", WARN, f"PDF reports cannot be printed: {exc}",
                     "apt-get install chromium, or set BOTFLEET_CHROMIUM")


def disk_check(fleet) -> Check:
    folder = Path(fleet.data_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    free_mb = usage.free // 2**20
    need = fleet.observability.min_free_disk_mb
    detail = f"{free_mb:,} MB free on the disk of {fleet.data_dir}"
    if free_mb < need:
        return Check("disk", FAIL, f"{detail}; at least {need:,} MB wanted",
                     "free space (old backups, logs) or move data_dir to a larger disk")
    if free_mb < 2 * need:
        return Check("disk", WARN, f"{detail}; getting close to {need:,} MB",
                     "free some space soon")
    return Check("disk", OK, detail)


def run_doctor(path: Path, *, venue: str | None = None, timeout_s: float = 10.0) -> list[Check]:
    """Every check, in the order printed; stops after `config` when the fleet does not load."""
    first, load = config_check(path)
    if load is None:
        return [first]
    fleet = load.fleet
    probes: list[tuple[str, Callable[[], object]]] = [
        ("state database", lambda: health.database(fleet.storage.state, "state database")),
        ("candles", lambda: candle_checks(fleet)),
        ("redis", lambda: health.redis(fleet.storage.cache)),
        *((f"exchange {i}", p) for i, p in enumerate(exchange_checks(fleet, venue))),
        ("credentials", lambda: credential_checks(fleet)),
        ("prefect", prefect_check),
        ("chromium", chromium_check),
        ("disk", lambda: disk_check(fleet)),
    ]
    return [first, *_gather(probes, timeout_s)]


def _gather(probes: list[tuple[str, Callable[[], object]]], timeout_s: float) -> list[Check]:
    """Run the probes at once; each gives a Check, a list of them or None (not applicable)."""
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="doctor")
    try:
        futures = [(name, pool.submit(probe)) for name, probe in probes]
        deadline = time.monotonic() + timeout_s
        out: list[Check] = []
        for name, fut in futures:
            try:
                got = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                out.append(Check(name, FAIL, f"no answer within {timeout_s:g} s",
                                 "check that the service is up and reachable"))
                continue
            except Exception as exc:  # noqa: BLE001 - a probe's failure is its verdict
                out.append(Check(name, FAIL, f"{type(exc).__name__}: {exc}"[:300]))
                continue
            out.extend(got if isinstance(got, list) else [got] if got is not None else [])
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
