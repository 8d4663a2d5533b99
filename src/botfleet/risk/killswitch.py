"""The kill switch service: engage and release in SQL, tell running bots through the bus.

Every bot process holds a `KillSwitch`; its pre-trade checks read `active_for(bot, exchange)`
from memory (no I/O per order). That memory is reloaded from the state database:
- when the bus's `kill_switch` channel says something changed (`botfleet.bus`: Redis pub/sub
  across processes in well under a second; with `memory://` every `KillSwitch` of the process
  at once, other processes at their next reload);
- when the subscription (re)connects, since pub/sub loses what is sent while away;
- at every `refresh()`: the runner calls it at cycle start, so a bot that missed a message
  still stops before its next order;
- every `poll_s` seconds if set, and every `FALLBACK_POLL_S` while Redis cannot be subscribed.
The message only says "reload"; SQL is the truth, so a switch survives restarts of bots,
runners and Redis until it is released, and a stray message costs one cheap SELECT.
"""

from __future__ import annotations

import getpass
import logging
import socket
import threading
from collections.abc import Callable
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from botfleet.bus import KILL_SWITCH_CHANNEL, KILLSWITCH_CHANGED, BusError, Event, Message, open_bus
from botfleet.obs.instrument import kill_switches
from botfleet.risk.breaker import wall_ms
from botfleet.risk.decision import RiskEvent
from botfleet.risk.history import DAY_MS, day_start_ms
from botfleet.risk.kill import MODES, RELEASES, SCOPES, KillState, strictest
from botfleet.risk.store import RiskStore

log = logging.getLogger(__name__)
FALLBACK_POLL_S = 1.0


class KillSwitchError(ValueError):
    """A kill-switch command that cannot be carried out as written."""


def default_actor(via: str = "cli") -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = "unknown"
    return f"{via}:{user}@{socket.gethostname()}"


def _target(scope: str, target: str | None) -> str:
    if scope not in SCOPES:
        raise KillSwitchError(f"scope {scope!r}: one of {', '.join(SCOPES)}")
    target = (target or "").strip()
    if scope == "global":
        if target not in ("", "*"):
            raise KillSwitchError(f"a global kill switch has no target (got {target!r})")
        return ""
    if not target:
        raise KillSwitchError(f"a {scope} kill switch needs the {scope}'s name")
    return target


class KillSwitch:
    def __init__(self, state: str | URL | Engine | RiskStore, cache_url: str = "memory://", *,
                 prefix: str = "botfleet:", clock: Callable[[], int] = wall_ms,
                 listen: bool = True, poll_s: float | None = None,
                 on_event: Callable[[RiskEvent], None] | None = None):
        """`cache_url`: the fleet's `storage.cache`; `prefix`: the bus prefix (fleets sharing
        one Redis keep apart by it); `listen=False` for a process that only engages (the CLI).
        """
        self.bus = open_bus(cache_url, prefix=prefix)  # first: a bad URL fails before I/O
        self.store = state if isinstance(state, RiskStore) else RiskStore(state)
        self._owns_store = not isinstance(state, RiskStore)
        self.clock = clock
        self.on_event = on_event
        self._lock = threading.Lock()  # one reload at a time: an older read never lands last
        self.published: bool | None = None  # did the last change reach the bus
        self._active: tuple[KillState, ...] = ()
        self._callbacks: list[Callable[[tuple[KillState, ...]], None]] = []
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.subscribed = False
        self.refresh()
        if listen:
            try:
                self.bus.pubsub.subscribe(KILL_SWITCH_CHANNEL, self._on_message,
                                          on_connect=self.refresh)
                self.subscribed = True
            except BusError as exc:
                log.warning("kill switch: cannot listen on %s (%s); reloading from the state "
                            "database every %s s instead", self.bus.url, exc, FALLBACK_POLL_S)
                poll_s = min(poll_s or FALLBACK_POLL_S, FALLBACK_POLL_S)
        if poll_s:
            self._poller = threading.Thread(target=self._poll, args=(poll_s,), daemon=True,
                                            name="kill-switch poll")
            self._poller.start()

    # -- reading -------------------------------------------------------------------------

    def active(self) -> tuple[KillState, ...]:
        now = self.clock()
        return tuple(s for s in self._active if s.in_force(now))

    def all_for(self, bot: str, exchange: str) -> list[KillState]:
        now = self.clock()
        return [s for s in self._active if s.covers(bot, exchange) and s.in_force(now)]

    def active_for(self, bot: str, exchange: str) -> KillState | None:
        """The switch in force for a bot: the strictest mode of those covering it (global,
        its exchange's, its own), the widest scope among equals; None when trading is free."""
        if not self._active:
            return None
        return strictest(self.all_for(bot, exchange))

    def refresh(self) -> tuple[KillState, ...]:
        """Reload from the state database (cheap: one SELECT on a table of engagements)."""
        with self._lock:
            now = self.clock()
            fresh = tuple(self.store.engaged(now))
            changed = [s.id for s in fresh] != [s.id for s in self._active]
            self._active = fresh
            kill_switches(fresh, now)
        if changed:
            for callback in list(self._callbacks):
                try:
                    callback(fresh)
                except Exception:
                    log.exception("kill-switch callback failed")
        return fresh

    def on_change(self, callback: Callable[[tuple[KillState, ...]], None]) -> None:
        """Call `callback(active switches)` whenever the set changes (from the listener
        thread): the runner cancels and flattens at once instead of at its next cycle."""
        self._callbacks.append(callback)

    # -- writing -------------------------------------------------------------------------

    def engage(self, scope: str, target: str | None = None, mode: str = "cancel_orders",
               reason: str = "", actor: str | None = None, release: str = "manual"
               ) -> KillState:
        target = _target(scope, target)
        if mode not in MODES:
            raise KillSwitchError(f"mode {mode!r}: one of {', '.join(MODES)}")
        if release not in RELEASES:
            raise KillSwitchError(f"release {release!r}: one of {', '.join(RELEASES)}")
        if not reason or not reason.strip():
            raise KillSwitchError("a kill switch needs a reason (it is shown to every bot and "
                                  "kept in the history)")
        now = self.clock()
        release_at = day_start_ms(now) + DAY_MS if release == "next_day" else None
        state = self.store.engage(scope, target, mode, reason.strip(),
                                  actor or default_actor(), release, now, release_at)
        self._announce("engaged", state, RiskEvent(
            "kill_switch", state.target or "*", "kill_switch", state.describe(), now,
            state.level, "engaged", "critical"))
        return state

    def release(self, scope: str, target: str | None = None, reason: str = "",
                actor: str | None = None) -> KillState | None:
        """Release the switch engaged on (scope, target); None when none was."""
        target = _target(scope, target)
        if not reason or not reason.strip():
            raise KillSwitchError("a release needs a reason (kept in the history)")
        now = self.clock()
        state = self.store.release(scope, target, reason.strip(), actor or default_actor(), now)
        if state is not None:
            self._announce("released", state, RiskEvent(
                "kill_switch", state.target or "*", "kill_switch",
                f"kill switch {state.label} released by {state.released_by}: "
                f"{state.release_reason}", now, state.level, "released", "warning"))
        return state

    def _announce(self, action: str, state: KillState, event: RiskEvent) -> None:
        """Publish first (the bots reload at once), then log the event and reload here."""
        try:
            self.bus.pubsub.publish(KILL_SWITCH_CHANNEL, {
                "action": action, "id": state.id, "scope": state.scope,
                "target": state.target, "mode": state.mode, "ts": event.ts})
            self.published = True
        except BusError as exc:
            log.warning("kill switch: cannot publish on %s (%s); running bots see the change "
                        "at their next reload from the state database", self.bus.url, exc)
            self.published = False
        engaged = action == "engaged"
        try:  # the history the notifier and the UI read (a consumer group: none is lost)
            self.bus.events.append(Event(KILLSWITCH_CHANGED, action, {
                "scope": state.scope, "target": state.target or "*", "mode": state.mode,
                "state": action, "severity": "critical" if engaged else "warning",
                "actor": state.actor if engaged else (state.released_by or ""),
                "reason": state.reason if engaged else (state.release_reason or ""),
                "bot": state.target if state.scope == "bot" else ""}))
        except BusError as exc:
            log.warning("kill switch: cannot append the %s event on %s (%s)", action,
                        self.bus.url, exc)
        self.store.add_events([event])
        self._audit(action, state)
        self.refresh()
        if self.on_event is not None:
            self.on_event(event)

    def _audit(self, action: str, state: KillState) -> None:
        """Every engagement and release in the audit log, whoever asked (CLI, Telegram, UI);
        the switch itself is already stored, so a failure here is logged, not raised."""
        from botfleet.storage.audit import record_audit

        engaged = action == "engaged"
        target = "fleet" if state.scope == "global" else f"{state.scope}:{state.target}"
        try:
            record_audit(self.store.engine, actor=(state.actor if engaged else
                                                   state.released_by or "unknown"),
                         action="kill.engage" if engaged else "kill.release", target=target,
                         detail={"id": state.id, "mode": state.mode, "reason": (
                             state.reason if engaged else state.release_reason or "")})
        except Exception:
            log.exception("kill switch %s: writing the audit entry failed", state.label)

    # -- plumbing ------------------------------------------------------------------------

    def _on_message(self, _message: Message) -> None:
        self.refresh()

    def _poll(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.refresh()
            except Exception:
                log.exception("kill switch: reloading from the state database failed")

    def close(self) -> None:
        self._stop.set()
        self.bus.close()
        if self._poller is not None:
            self._poller.join(timeout=2)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
