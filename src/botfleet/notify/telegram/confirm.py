"""Confirmation buttons for the commands that can hurt: /kill, /release, /stop, /start.

A command asks; the answer is an inline keyboard whose callback data carries a random nonce
(`c:<nonce>:<choice>`). A press is honoured once, only in the chat that asked, and only within
the timeout (60 s by default): a button pressed late, twice, from another chat or with data
nobody issued (a forged callback) does nothing but say so. The pending actions live in memory:
a restart of the Telegram bot forgets them, which is the safe way to fail.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PREFIX = "c"


@dataclass(frozen=True)
class Pending:
    nonce: str
    chat_id: int
    user_id: int
    action: str  # kill, release, stop, start
    args: dict[str, Any] = field(default_factory=dict)
    expires: float = 0.0


class Refused(Exception):
    """A press that is not honoured; the message says why (shown to the presser)."""


class Confirmations:
    def __init__(self, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.ttl_s, self.clock = ttl_s, clock
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def ask(self, chat_id: int, user_id: int, action: str, **args) -> Pending:
        now = self.clock()
        with self._lock:
            for nonce in [n for n, p in self._pending.items() if p.expires <= now]:
                del self._pending[nonce]  # expired ones never pile up
            nonce = secrets.token_urlsafe(12)
            pending = Pending(nonce, chat_id, user_id, action, args, now + self.ttl_s)
            self._pending[nonce] = pending
        return pending

    @staticmethod
    def data(pending: Pending, choice: str) -> str:
        return f"{PREFIX}:{pending.nonce}:{choice}"  # < 64 bytes, Telegram's limit

    def take(self, data: str, chat_id: int) -> tuple[Pending, str]:
        """The pending action a press confirms, and the choice; removed, so a second press
        of the same button finds nothing. Raises `Refused`."""
        parts = (data or "").split(":")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise Refused("this button is not one of mine")
        _, nonce, choice = parts
        with self._lock:
            pending = self._pending.get(nonce)
            if pending is None:
                raise Refused("this confirmation is unknown or already used")
            if pending.chat_id != chat_id:
                raise Refused("this confirmation belongs to another chat")
            del self._pending[nonce]
        if self.clock() >= pending.expires:
            raise Refused(f"this confirmation expired (valid {self.ttl_s:g} s); "
                          f"send /{pending.action} again")
        return pending, choice
