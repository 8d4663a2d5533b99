"""Real servers on 127.0.0.1 for the notification tests: an SMTP server and an HTTP webhook.

Apprise delivers to them exactly as it would to a mail provider or a chat webhook, so a test
checks what actually arrived (subject, body, attachments), not what a mock was called with.
The SMTP server (aiosmtpd) accepts AUTH PLAIN/LOGIN without TLS for one user, so channel URLs
carry a password the tests can look for in logs and errors. The webhook collects JSON or form
posts and can be told to answer slowly or with an error.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "bot", "s3cret-Pa55word"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    subject: str
    body: str
    attachments: dict[str, bytes]


class _MailHandler:
    def __init__(self, box: MailBox):
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body, files = "", {}
        for part in msg.walk():
            if part.is_multipart():
                continue
            name = part.get_filename()
            if name:
                files[name] = part.get_payload(decode=True)
            elif part.get_content_type().startswith("text/") and not body:
                body = part.get_content()
        self.box.add(Mail(envelope.mail_from, list(envelope.rcpt_tos), str(msg["subject"] or ""),
                          body, files))
        return "250 Message accepted for delivery"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
          and auth_data.password.decode() == SMTP_PASSWORD)
    return AuthResult(success=ok)


class MailBox:
    """Messages the SMTP server accepted, in arrival order."""

    def __init__(self):
        self.messages: list[Mail] = []
        self._cond = threading.Condition()
        self.port = 0

    def add(self, mail: Mail) -> None:
        with self._cond:
            self.messages.append(mail)
            self._cond.notify_all()

    def wait(self, n: int = 1, timeout_s: float = 10.0) -> list[Mail]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= n, timeout_s)
            return list(self.messages)

    def url(self, to: str = "ops@example.org", password: str = SMTP_PASSWORD) -> str:
        return (f"mailto://{SMTP_USER}:{password}@127.0.0.1:{self.port}"
                f"?from=botfleet@example.org&to={to}&mode=insecure")


@pytest.fixture
def smtp_server():
    box = MailBox()
    port = free_port()
    ctl = Controller(_MailHandler(box), hostname="127.0.0.1", port=port,
                     authenticator=_authenticate, auth_require_tls=False)
    ctl.start()
    box.port = port
    yield box
    ctl.stop()


@dataclass
class Hook:
    """A local webhook: what was posted, and how it answers (`status`, `delay_s`)."""

    posts: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    port: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, path: str, post: dict) -> None:
        with self.cond:
            self.posts.append(post)
            self.paths.append(path)
            self.cond.notify_all()

    def wait(self, n: int = 1, timeout_s: float = 10.0) -> list[dict]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.posts) >= n, timeout_s)
            return list(self.posts)

    def url(self, path: str = "hook", kind: str = "json") -> str:
        return f"{kind}://127.0.0.1:{self.port}/{path}"

    @staticmethod
    def attachments(post: dict) -> dict[str, bytes]:
        return {a["filename"]: base64.b64decode(a["base64"]) for a in post.get("attachments", [])}


def _handler(hook: Hook):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if hook.delay_s:
                time.sleep(hook.delay_s)
            kind = self.headers.get("Content-Type", "")
            if "json" in kind:
                post = json.loads(raw or b"{}")
            elif "multipart" in kind:
                post = _multipart(kind, raw)
            else:
                post = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if hook.status < 300:
                hook.add(self.path, post)
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def _multipart(content_type: str, raw: bytes) -> dict:
    """A form post's fields; uploaded files go under `files` as {filename: bytes}."""
    msg = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw,
                                   policy=email.policy.default)
    post: dict = {"files": {}}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            post["files"][part.get_filename()] = part.get_payload(decode=True)
        else:
            post[name] = part.get_payload(decode=True).decode()
    return post


def start_hook() -> tuple[Hook, ThreadingHTTPServer]:
    hook = Hook()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    server.daemon_threads = True
    hook.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hook, server


@pytest.fixture
def webhook():
    hook, server = start_hook()
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhooks():
    """webhooks() -> a new Hook each call; all are shut down afterwards."""
    servers = []

    def make() -> Hook:
        hook, server = start_hook()
        servers.append(server)
        return hook

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url(kind: str = "json") -> str:
    """A webhook URL on a port where nothing listens: connection refused at once."""
    return f"{kind}://127.0.0.1:{free_port()}/down"


FLEET = """
kind: fleet
version: 1
name: t
capital: {currency: USDT, total: 1000}
defaults: {exchange: binance, timeframe: 1h}
exchanges:
  - {name: binance, ccxt_id: binance}
strategies:
  - name: s
    entry: close > open
    exit: close < open
bots: [bots.d/*.yaml]
notifiers: [notifiers.d/*.yaml]
"""


def make_fleet(root, notifier: str, bots: dict[str, str] | None = None):
    """A valid fleet in `root` with one notifier file and bots (name -> extra YAML lines)."""
    import textwrap

    from botfleet.config import load_fleet

    (root / "bots.d").mkdir(parents=True, exist_ok=True)
    (root / "notifiers.d").mkdir(exist_ok=True)
    (root / "fleet.yaml").write_text(textwrap.dedent(FLEET).lstrip())
    (root / "notifiers.d" / "ops.yaml").write_text(textwrap.dedent(notifier).lstrip())
    for name, extra in (bots or {"a": ""}).items():
        (root / "bots.d" / f"{name}.yaml").write_text(
            f"kind: bot\nversion: 1\nname: {name}\npairs: [BTC/USDT]\nstrategy: s\n"
            + textwrap.dedent(extra).lstrip())
    load = load_fleet(root / "fleet.yaml", display_root=root)
    assert load.ok, "\n".join(map(str, load.errors))
    return load.fleet
