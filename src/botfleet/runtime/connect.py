"""Where a runner's bots trade and whose clock they live by: the three ways in.

- `venue_connection(server, ...)`: paper bots on an in-process simulator (`BinanceServer`),
  each on an account of its own funded with the bot's capital, so the exchange itself keeps
  each bot within its money and reconciliation can compare each bot's balances; the runner
  reads the venue's clock (wall, manual or a replay faster than real time).
- `remote_connection(url, ...)`: a simulator in another process (`botfleet venue serve`),
  trading the account the exchange file's credentials name; the clock is the simulator's,
  read through `/sim/v1/clock`.
- `live_connection(...)`: the real exchange (or the exchange file's `api_url`), with the
  credentials resolved from the environment or the secrets directory now, failing at start
  with the variable's name; the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from botfleet.config.model import BotConfig, Fleet
from botfleet.risk.book import quote_of
from botfleet.runtime.clients import resolve_credentials
from botfleet.runtime.timing import RemoteVenueClock, RunnerClock, VenueClock
from botfleet.sim.bots import bot_capital


class VenueUnreachable(ConnectionError):
    """The simulator's address does not answer as a simulator."""


@dataclass
class Connection:
    clock: RunnerClock
    credentials: Callable[[str], dict[str, str]]  # bot name -> ccxt keys (apiKey, secret)
    api_urls: dict[str, str | None] = field(default_factory=dict)  # exchange -> base URL
    own_accounts: bool = False  # each bot trades an account of its own
    label: str = ""
    fleet: Fleet | None = None  # the runner's current fleet (kept up to date by reloads)


def venue_connection(server, fleet: Fleet, bots: list[BotConfig]) -> Connection:
    """An account per bot on `server`, holding the bot's capital in its quote currency (a bot
    added by a hot reload gets its account when it starts)."""
    keys: dict[str, dict[str, str]] = {}

    def credentials(name: str) -> dict[str, str]:
        if name not in keys:
            current = conn.fleet or fleet
            bot = current.bots[name]
            quote = current.capital_currency or quote_of(bot.pairs[0])
            try:
                account = server.accounts.by_name(name)  # a runner restarted on this venue
            except KeyError:
                account = server.add_account(name, {quote: str(bot_capital(current, bot))})
            keys[name] = {"apiKey": account.api_key, "secret": account.secret}
        return keys[name]

    conn = Connection(VenueClock(server.clock), credentials,
                      dict.fromkeys(fleet.exchanges, server.base_url), True,
                      f"simulator at {server.base_url}")
    for bot in bots:
        credentials(bot.name)
    return conn


def remote_connection(url: str, fleet: Fleet, bots: list[BotConfig]) -> Connection:
    """A simulator at `url`; each exchange's credentials from its references."""
    from botfleet.data.exchange_client import make_client
    from botfleet.venue import SimClock

    creds = {name: resolve_credentials(fleet.exchanges[name])
             for name in {b.exchange for b in bots}}
    probe = make_client(next(iter(fleet.exchanges.values())), api_url=url)
    try:
        clock = RemoteVenueClock(SimClock(probe))
    except Exception as exc:  # noqa: BLE001 - any failure: not a simulator we can use
        raise VenueUnreachable(f"no exchange simulator answers at {url} "
                               f"(GET /sim/v1/clock: {type(exc).__name__}: {exc}); start "
                               "one with 'botfleet venue serve'") from None
    by_bot = {b.name: creds[b.exchange] for b in bots}
    return Connection(clock, by_bot.__getitem__, dict.fromkeys(fleet.exchanges, url), False,
                      f"simulator at {url}")


def live_connection(fleet: Fleet, bots: list[BotConfig]) -> Connection:
    """Real exchanges (or each exchange file's `api_url`); raises `CredentialsError`."""
    creds = {name: resolve_credentials(fleet.exchanges[name])
             for name in sorted({b.exchange for b in bots})}
    by_bot = {b.name: creds[b.exchange] for b in bots}
    return Connection(RunnerClock(), by_bot.__getitem__,
                      {name: fleet.exchanges[name].api_url for name in creds}, False, "live")
