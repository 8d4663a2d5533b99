"""Notifications through Apprise, declared in YAML (`kind: notifier`, docs/notifications.md).

    report = send_message(fleet, "Daily report", text, attachments=[pdf])   # blocks, answers
    notifier = Notifier.from_fleet(fleet, bus).start()                       # background
    notifier.submit(event)                                                   # never blocks
    run_notifier(fleet, bus, group="notifier")                               # a bus reader
    NotifierThread(fleet, bus).start()                       # the same, on a thread (memory://)

Telegram control commands (`notify/telegram*`, `notify/control*`) are a separate concern.
"""

from botfleet.notify.channels import ChannelSpec
from botfleet.notify.consumer import NotifierThread, run_notifier
from botfleet.notify.notice import Notice, from_event
from botfleet.notify.notifier import Notifier
from botfleet.notify.plan import NotifyPlan, UnknownChannel
from botfleet.notify.send import DeliveryReport, send_message
from botfleet.notify.templates import TemplateError

__all__ = ["ChannelSpec", "DeliveryReport", "Notice", "Notifier", "NotifierThread", "NotifyPlan",
           "TemplateError", "UnknownChannel", "from_event", "run_notifier", "send_message"]
