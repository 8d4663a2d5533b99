"""State-database table of operator controls: which bots are paused, by whom, since when.

A pause lives in SQL, not in a runner's memory, for the same reason as the kill switch: the
fleet runner may run each cycle in a fresh process, and a bot an operator paused must stay
paused across restarts until someone resumes it. One row per paused target (a bot's name, or
`*` for the whole fleet); resuming deletes the row. The history (who paused and resumed what,
when, from where) is the audit log (`audit_log`, `storage.audit`), not this table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from botfleet.storage.models import Base

FLEET = "*"  # the target of a fleet-wide pause (`/stop`): covers every bot, new ones too


class BotControl(Base):
    __tablename__ = "bot_controls"

    bot: Mapped[str] = mapped_column(String(200), primary_key=True)  # a bot's name, or '*'
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
