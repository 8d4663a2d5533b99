"""The fleet's channels with their URLs resolved: enabled, or disabled with a reason.

A channel's Apprise URL holds a token or a password, so YAML only references it. It is
resolved once, when the notifier starts; a reference that is not set disables that channel
with one warning naming the channel and the variable (the fleet still runs: a missing
Telegram token must not stop trading). The resolved URL is registered with the log masking,
kept out of every repr, and never printed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import apprise

from botfleet.config.refs import SecretMissing
from botfleet.obs.masking import mask, register_secret

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class ChannelSpec:
    key: str  # the name users type: the channel's name, or notifier.channel when two share it
    notifier: str
    name: str
    ref: str
    format: str = "text"
    rate_limit: tuple[int, Decimal] | None = None
    batch_window_s: float | None = None
    retries: int = 3
    dedup_window_s: float = 300.0
    url: str | None = field(default=None, repr=False, compare=False)
    disabled: str | None = None  # why the channel cannot send (None: it can)

    @property
    def enabled(self) -> bool:
        return self.disabled is None and self.url is not None


def channel_keys(fleet) -> dict[tuple[str, str], str]:
    """(notifier, channel) -> key: the bare channel name unless two notifiers use it."""
    count = Counter(ch for n in fleet.notifiers.values() for ch in n.channels)
    return {(n.name, ch): ch if count[ch] == 1 else f"{n.name}.{ch}"
            for n in fleet.notifiers.values() for ch in n.channels}


def resolve_channels(fleet, env: Mapping[str, str] | None = None,
                     secrets_dir: Path | None = None) -> dict[str, ChannelSpec]:
    keys = channel_keys(fleet)
    out = {}
    for n in fleet.notifiers.values():
        for ch in n.channels.values():
            key = keys[(n.name, ch.name)]
            url, why = None, None
            try:
                url = ch.url.reveal(env=env, secrets_dir=secrets_dir).strip()
            except SecretMissing as exc:
                why = str(exc)
            if url is not None:
                register_secret(url)
                if not url:
                    why = f"{ch.url.ref} is empty"
                elif apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
                    scheme = url.split("://", 1)[0] if "://" in url else "(none)"
                    why = (f"{ch.url.ref} is not an Apprise URL botfleet can use "
                           f"(scheme {scheme!r})")
            if why is not None:
                _warn_once(key, why)
            out[key] = ChannelSpec(
                key, n.name, ch.name, ch.url.ref, ch.format, ch.rate_limit,
                float(ch.batch_window) if ch.batch_window else None, ch.retries,
                float(ch.dedup_window), url if why is None else None, why)
    return out


def _warn_once(key: str, why: str) -> None:
    if (key, why) in _warned:
        return
    _warned.add((key, why))
    log.warning("notification channel %r is disabled: %s", key, mask(why))
