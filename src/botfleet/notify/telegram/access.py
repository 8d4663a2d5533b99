"""Who may talk to the fleet: only the chats listed in `control.telegram.allowed_chats`.

Anyone can find a bot by its name and write to it, so everything else gets nothing useful
(no reply at all: a reply would confirm there is something here) and leaves an audit entry
(`telegram.denied`, `allowed=False`) with its chat id, user id and what it sent, so an
operator can see who is knocking.
"""

from __future__ import annotations

import logging

from botfleet.storage.audit import record_audit

log = logging.getLogger("botfleet.telegram")
DENIED = "telegram.denied"


def actor_of(user_id: int | None) -> str:
    return f"telegram:{user_id if user_id is not None else 'unknown'}"


class Gate:
    def __init__(self, allowed_chats, state_url):
        self.allowed = frozenset(int(c) for c in allowed_chats)
        self.state_url = state_url

    def allows(self, chat_id: int | None) -> bool:
        return chat_id is not None and chat_id in self.allowed

    def deny(self, chat_id: int | None, user_id: int | None, what: str) -> None:
        """Audit a refused attempt (the text is cut short: it is a stranger's input)."""
        log.warning("telegram: refused %r from chat %s (user %s): not an allowed chat",
                    what[:60], chat_id, user_id)
        record_audit(self.state_url, actor=actor_of(user_id), action=DENIED,
                     target=f"chat:{chat_id}", allowed=False,
                     detail={"chat_id": chat_id, "user_id": user_id, "text": what[:200]})
