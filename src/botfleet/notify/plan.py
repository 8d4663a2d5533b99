"""Everything the notifier needs from the fleet, resolved and checked once at start.

Building the plan resolves channel URLs (disabling those whose reference is unset), checks the
templates (a config error names the template, before any event arrives) and parses quiet
hours; what remains at runtime is lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from botfleet.notify.channels import ChannelSpec, channel_keys, resolve_channels
from botfleet.notify.limits import QuietHours
from botfleet.notify.routing import Router
from botfleet.notify.templates import check_templates


class UnknownChannel(LookupError):
    """A channel name that no notifier of the fleet defines; the message lists them."""


@dataclass
class NotifyPlan:
    channels: dict[str, ChannelSpec]
    router: Router
    templates: dict[str, Mapping[str, str]]  # notifier -> event type -> template
    quiet: dict[str, QuietHours | None]  # notifier -> quiet hours

    @classmethod
    def from_fleet(cls, fleet, env: Mapping[str, str] | None = None,
                   secrets_dir: Path | None = None) -> NotifyPlan:
        for n in fleet.notifiers.values():
            check_templates(n.templates, f"notifier {n.name} ({n.source})")
        return cls(resolve_channels(fleet, env, secrets_dir),
                   Router.from_fleet(fleet, channel_keys(fleet)),
                   {n.name: dict(n.templates) for n in fleet.notifiers.values()},
                   {n.name: QuietHours.parse(n.quiet_hours) for n in fleet.notifiers.values()})

    def channel(self, key: str) -> ChannelSpec:
        try:
            return self.channels[key]
        except KeyError:
            known = ", ".join(sorted(self.channels)) or "none (the fleet defines no notifier)"
            raise UnknownChannel(f"no notification channel {key!r}; channels: {known}") from None

    def fallbacks(self, key: str) -> list[str]:
        """Other enabled channels to tell when `key` fails: its notifier's first, then the
        rest, in declaration order."""
        own = self.channels[key].notifier
        others = [c for c in self.channels.values() if c.key != key and c.enabled]
        return [c.key for c in others if c.notifier == own] + \
               [c.key for c in others if c.notifier != own]
