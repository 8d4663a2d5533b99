"""Sending one message now and waiting for the answer: reports and `botfleet notify test`.

Unlike the background notifier this blocks until every channel has answered, and it skips
what exists to spare a chat from floods (batch windows, rate limits, dedup, quiet hours): the
caller asked for this one message, now. Routing is the same as for any event, unless the
caller names the channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from botfleet.notify.deliver import Sender
from botfleet.notify.notice import message
from botfleet.notify.plan import NotifyPlan
from botfleet.notify.templates import render
from botfleet.obs import metrics


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # channel -> masked reason

    @property
    def ok(self) -> bool:
        return bool(self.sent) and not self.failed


def send_message(fleet, title: str, body: str, *, event_type: str = "daily_report",
                 severity: str = "info", bot: str | None = None,
                 attachments: Sequence[Path] = (), channels: Sequence[str] | None = None,
                 plan: NotifyPlan | None = None, retries: int | None = None) -> DeliveryReport:
    """Deliver to the channels routed for (event_type, severity, bot), or to `channels`;
    raises `UnknownChannel` for a name no notifier defines."""
    plan = plan or NotifyPlan.from_fleet(fleet)
    notice = message(title, body, event_type=event_type, severity=severity, bot=bot,
                     attachments=attachments)
    keys = [plan.channel(c).key for c in channels] if channels is not None \
        else plan.router.channels(notice)
    report = DeliveryReport()
    for key in keys:
        spec = plan.channels[key]
        if not spec.enabled:
            report.failed[key] = f"disabled: {spec.disabled}"
            continue
        title_, body_ = render(notice, plan.templates.get(spec.notifier))
        ok, reason = Sender(spec).send(title_, body_, notice.attachments, severity,
                                       retries=retries)
        if ok:
            report.sent.append(key)
            metrics.NOTIFICATIONS_SENT.labels(key).inc()
        else:
            report.failed[key] = reason
            metrics.NOTIFICATION_FAILURES.labels(key).inc()
    return report
