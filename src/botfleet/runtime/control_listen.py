"""A running runner hears operator controls on the bus (`CONTROL_CHANNEL`).

`{"cmd": "reload"}` makes it load the fleet's files now instead of waiting for a modification
time to change (e.g. after `git pull` kept the times, or from Telegram's `/reload`): the
watcher's memory of the files is cleared, so its next poll (every `--reload-every` seconds)
sees a change and reloads through the usual path (`reload.apply`: checked, refused whole when
invalid, bots changed only between cycles). With hot reload off it reloads on the listener's
thread.

`pause` and `resume` need nothing from a running runner: the paused bots are read from the
state database at every close (`tick.prepare`), which is the truth. The runner logs them so an
operator watching its log sees the command arrive.
"""

from __future__ import annotations

import logging
import threading

from botfleet.bus import CONTROL_CHANNEL, BusError, Message

log = logging.getLogger("botfleet.runtime.runner")
_RELOADING = threading.Lock()


def listen(runner):
    """Subscribe `runner` to the control channel; None when the bus cannot be subscribed (the
    controls still hold through the state database)."""
    try:
        return runner.svc.bus.pubsub.subscribe(CONTROL_CHANNEL,
                                               lambda message: on_control(runner, message))
    except BusError as exc:
        log.warning("controls: cannot listen on %s (%s); pauses still hold from the state "
                    "database at every close, reload waits for a file change",
                    runner.svc.bus.url, exc)
        return None


def _addressed(runner, bot) -> bool:
    return bot in (None, "*") or bot in runner.slots


def on_control(runner, message: Message) -> None:
    data = message.data if isinstance(message.data, dict) else {}
    cmd, bot = data.get("cmd"), data.get("bot")
    if cmd not in ("pause", "resume", "reload"):
        log.warning("controls: ignoring a control message that is not a command: %r",
                    message.data)
        return
    if not _addressed(runner, bot) or runner._stopping:
        return
    if cmd in ("pause", "resume"):
        who = "every bot" if bot in (None, "*") else f"bot {bot}"
        log.info("control: %s %s (from the next close on)", cmd, who)
        return
    reload_now(runner)


def reload_now(runner) -> None:
    if runner.options.reload_every_s > 0:
        runner.watcher.seen = {}  # the next poll sees every file as changed
        log.info("control: reload asked; the fleet's files are loaded at the next poll")
        return
    from botfleet.runtime.reload import apply, load_checked

    with _RELOADING:
        try:
            fresh = load_checked(runner.watcher.root)
            runner.watcher.seen = runner.watcher.signature(fresh)
            apply(runner, fresh)
        except Exception:  # a reload must never stop the fleet
            log.exception("control: reload failed; the fleet runs on unchanged")
