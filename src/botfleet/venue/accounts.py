"""Accounts of the simulated venue: API key and secret, and Decimal balances per asset.

A bot's broker must be tested against an exchange that keeps books the way Binance does: what is
`free` can be spent, what is `locked` is reserved by open orders, and an order that needs more
than is free is refused. Keeping that arithmetic here, in Decimal, means the matching engine only
says "this fill happened" and the ledger cannot drift by a float rounding.

Keys are 64 alphanumeric characters like Binance's; a key of another shape is a format error
(-2014), an unknown one an invalid key (-2015). Keys can be given (a test or a YAML file names
them) or generated.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{8,128}$")
ZERO = Decimal(0)


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class BalanceError(Exception):
    """More was asked of a balance than it holds (the exchange answers -2010)."""


@dataclass
class Account:
    name: str
    api_key: str
    secret: str
    balances: dict[str, Balance] = field(default_factory=dict)
    created_ms: int = 0

    def balance(self, asset: str) -> Balance:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def free(self, asset: str) -> Decimal:
        return self.balances[asset].free if asset in self.balances else ZERO

    # --- the ledger: every change of a balance goes through one of these -------------------

    def lock(self, asset: str, amount: Decimal) -> None:
        bal = self.balance(asset)
        if amount > bal.free:
            raise BalanceError(f"{self.name}: lock {amount} {asset}, only {bal.free} free")
        bal.free -= amount
        bal.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        bal = self.balance(asset)
        if amount > bal.locked:
            raise BalanceError(f"{self.name}: unlock {amount} {asset}, only {bal.locked} locked")
        bal.locked -= amount
        bal.free += amount

    def spend(self, asset: str, amount: Decimal, *, from_locked: Decimal = ZERO) -> None:
        """Pay `amount`: `from_locked` of it out of the locked part, the rest out of free."""
        bal = self.balance(asset)
        rest = amount - from_locked
        if from_locked > bal.locked or rest > bal.free:
            raise BalanceError(f"{self.name}: pay {amount} {asset} ({from_locked} locked), "
                               f"holding {bal.free} free + {bal.locked} locked")
        bal.locked -= from_locked
        bal.free -= rest

    def credit(self, asset: str, amount: Decimal) -> None:
        self.balance(asset).free += amount

    def snapshot(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked), every asset ever held (zeros included)."""
        return {a: (b.free, b.locked) for a, b in sorted(self.balances.items())}


def new_key() -> str:
    return secrets.token_hex(32)  # 64 characters, like Binance's keys


def parse_balances(balances: Mapping[str, object] | None, where: str) -> dict[str, Balance]:
    """{'USDT': '10000', 'BTC': 0.5} -> Balances; amounts must be non-negative decimals."""
    out: dict[str, Balance] = {}
    for asset, raw in (balances or {}).items():
        if not isinstance(asset, str) or not re.fullmatch(r"[A-Z0-9]{1,20}", asset):
            raise ValueError(f"{where}: asset {asset!r} is not an upper-case asset code "
                             "such as 'USDT'")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
            raise TypeError(f"{where}.{asset}: {raw!r} is not an amount")
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(f"{where}.{asset}: {raw!r} is not a decimal amount") from None
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"{where}.{asset}: {raw!r} must be a non-negative amount")
        out[asset] = Balance(free=amount)
    return out


class Accounts:
    """The venue's accounts by API key; thread-safe registration, lookups are dict reads."""

    def __init__(self, accounts: Iterable[Account] = ()):
        self._lock = threading.Lock()
        self._by_key: dict[str, Account] = {}
        self._by_name: dict[str, Account] = {}
        for acct in accounts:
            self._add(acct)

    def create(self, name: str, balances: Mapping[str, object] | None = None, *,
               api_key: str | None = None, secret: str | None = None) -> Account:
        """Register an account; keys are generated unless given."""
        where = f"account {name!r}"
        if not name:
            raise ValueError("an account needs a name")
        for label, value in (("api_key", api_key), ("secret", secret)):
            if value is not None and not KEY_FORMAT.match(value):
                raise ValueError(f"{where}: {label} must be 8-128 letters and digits")
        acct = Account(name, api_key or new_key(), secret or new_key(),
                       parse_balances(balances, f"{where}.balances"))
        return self._add(acct)

    def _add(self, acct: Account) -> Account:
        with self._lock:
            if acct.api_key in self._by_key:
                raise ValueError(f"account {acct.name!r}: its api_key is already in use")
            if acct.name in self._by_name:
                raise ValueError(f"account {acct.name!r} already exists")
            self._by_key[acct.api_key] = acct
            self._by_name[acct.name] = acct
        return acct

    def by_key(self, api_key: str) -> Account | None:
        return self._by_key.get(api_key)

    def by_name(self, name: str) -> Account:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no account named {name!r}") from None

    def __iter__(self):
        with self._lock:
            return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)
