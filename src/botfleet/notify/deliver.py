"""Handing one message to Apprise for one channel, with retries and a reason when it fails.

Apprise does the transport (SMTP, Telegram, Discord, Slack, webhooks: any Apprise URL); this
module adds what Apprise leaves to the caller: retries with exponential backoff and jitter,
and the reason for a failure. Apprise only returns False and logs why, so its logger is
captured per thread (several channels deliver at once, each on its own thread) and the reason
is masked before anyone sees it. Apprise's own log lines are not passed on to botfleet's
handlers: they may quote a URL, and the notifier logs the masked reason instead.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import apprise

from botfleet.notify.channels import ChannelSpec
from botfleet.obs.masking import mask

_FORMATS = {"text": apprise.NotifyFormat.TEXT, "markdown": apprise.NotifyFormat.MARKDOWN,
            "html": apprise.NotifyFormat.HTML}
_TYPES = {"debug": apprise.NotifyType.INFO, "info": apprise.NotifyType.INFO,
          "warning": apprise.NotifyType.WARNING, "error": apprise.NotifyType.FAILURE,
          "critical": apprise.NotifyType.FAILURE}
_local = threading.local()


class _Capture(logging.Handler):
    """Keeps Apprise's warnings for the thread that is delivering."""

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(_local, "lines", None)
        if lines is not None:
            try:
                lines.append(record.getMessage())
            except Exception:  # noqa: BLE001 - a bad log call inside Apprise is not our failure
                lines.append(str(record.msg))


def _install_capture() -> None:
    logger = logging.getLogger("apprise")
    if not any(isinstance(h, _Capture) for h in logger.handlers):
        logger.addHandler(_Capture(level=logging.WARNING))
        logger.setLevel(logging.WARNING)
        logger.propagate = False


_install_capture()


class Sender:
    """Delivers to one channel. Thread-safe: one delivery at a time per channel."""

    def __init__(self, spec: ChannelSpec, *, sleep: Callable[[float], None] = time.sleep,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 jitter: Callable[[], float] = random.random):
        if not spec.enabled:
            raise ValueError(f"channel {spec.key!r} is disabled: {spec.disabled}")
        self.spec = spec
        self.sleep, self.backoff_s, self.max_backoff_s = sleep, backoff_s, max_backoff_s
        self.jitter = jitter
        self._lock = threading.Lock()
        self._apprise = apprise.Apprise(asset=apprise.AppriseAsset(
            app_id="botfleet", app_desc="botfleet notifications", async_mode=False))
        self._apprise.add(spec.url)

    def delay(self, attempt: int) -> float:
        """Before retry `attempt` (1, 2, ...): base * 2^(attempt-1), times 0.5-1.5 jitter."""
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + self.jitter())

    def send(self, title: str, body: str, attachments: Sequence[Path] = (),
             severity: str = "info", retries: int | None = None) -> tuple[bool, str]:
        """(delivered, masked reason of the last failure or '')."""
        retries = self.spec.retries if retries is None else retries
        reason = ""
        for attempt in range(retries + 1):
            if attempt:
                self.sleep(self.delay(attempt))
            ok, reason = self._once(title, body, attachments, severity)
            if ok:
                return True, ""
        tries = f"after {retries + 1} attempt(s)"
        return False, f"{reason} ({tries})" if reason else f"delivery failed {tries}"

    def _once(self, title, body, attachments, severity) -> tuple[bool, str]:
        missing = [str(a) for a in attachments if not Path(a).is_file()]
        if missing:
            return False, f"attachment not found: {', '.join(missing)}"
        _local.lines = []
        try:
            with self._lock:
                ok = self._apprise.notify(
                    body=body or " ", title=title, body_format=_FORMATS[self.spec.format],
                    notify_type=_TYPES.get(severity, apprise.NotifyType.INFO),
                    attach=[str(a) for a in attachments] or None)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the worker
            return False, mask(f"{type(exc).__name__}: {exc}")
        finally:
            lines, _local.lines = _local.lines, None
        return bool(ok), mask("; ".join(dict.fromkeys(lines)))[:500]
