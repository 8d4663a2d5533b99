"""A local server that speaks the Telegram Bot API, enough for python-telegram-bot's polling bot.

    with TelegramAPI(token) as api:                       # http://127.0.0.1:<port>
        ...  # point the bot at api.url (control.telegram.api_url)
        api.send_text(chat_id=42, user_id=7, text="/status")
        reply = api.wait_message(chat_id=42)              # what the bot sent back
        api.press(chat_id=42, user_id=7, message=reply, data=reply.buttons[0][1])

It runs aiohttp on its own thread and loop. `getUpdates` long-polls like Telegram's: it
returns the queued updates with an id at or past `offset` as soon as there are any, else waits
up to `timeout` seconds. Everything the bot sends (sendMessage, editMessageText,
answerCallbackQuery, sendDocument) is recorded as a `Sent` in order, for the tests to wait on.
Requests with another token get Telegram's 401, unknown methods its 404, as the real API does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "botfleet", "username": "botfleet_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}
RAW = {"text", "callback_query_id", "parse_mode", "caption", "url"}  # never JSON-decoded


@dataclass
class Sent:
    method: str
    params: dict[str, Any]
    message_id: int | None = None

    @property
    def chat_id(self) -> int | None:
        c = self.params.get("chat_id")
        return int(c) if c is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data) of each inline button, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in
                markup.get("inline_keyboard", []) for b in row]


@dataclass
class _State:
    updates: list[dict] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    commands: list = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


class TelegramAPI:
    def __init__(self, token: str, host: str = "127.0.0.1"):
        self.token, self.host = token, host
        self.state = _State()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(100)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True,
                                        name="telegram-api")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Telegram API test server did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self, ready: threading.Event) -> None:
        self._loop = loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, 0)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        loop.close()

    # -- the API -----------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        out: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            out.update(await request.json())
            return out
        form = await request.post()
        for key, value in form.items():
            if hasattr(value, "file"):  # an uploaded file
                out[key] = {"filename": value.filename, "size": len(value.file.read())}
            elif key in RAW:
                out[key] = value
            else:
                try:
                    out[key] = json.loads(value)
                except (TypeError, ValueError):
                    out[key] = value
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        with self._cond:
            self.state.calls.append(method)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        result = await handler(params)
        return web.json_response({"ok": True, "result": result})

    async def _m_getMe(self, _p):
        return BOT_USER

    async def _m_deleteWebhook(self, _p):
        return True

    async def _m_setMyCommands(self, p):
        with self._cond:
            self.state.commands = p.get("commands") or []
        return True

    async def _m_getMyCommands(self, _p):
        return self.state.commands

    async def _m_getUpdates(self, p):
        offset = int(p.get("offset") or 0)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while True:
            with self._cond:
                self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
                ready = list(self.state.updates[: int(p.get("limit") or 100)])
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)

    def _message(self, chat_id: int, text: str, message_id: int | None = None) -> dict:
        return {"message_id": message_id or next(self._msg_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": text}

    def _record(self, method: str, p: dict, message_id: int | None) -> None:
        with self._cond:
            self.state.sent.append(Sent(method, p, message_id))
            self._cond.notify_all()

    async def _m_sendMessage(self, p):
        msg = self._message(int(p["chat_id"]), p.get("text", ""))
        self._record("sendMessage", p, msg["message_id"])
        return msg

    async def _m_editMessageText(self, p):
        msg = self._message(int(p["chat_id"]), p.get("text", ""), int(p["message_id"]))
        self._record("editMessageText", p, msg["message_id"])
        return msg

    async def _m_answerCallbackQuery(self, p):
        self._record("answerCallbackQuery", p, None)
        return True

    async def _m_sendDocument(self, p):
        msg = self._message(int(p["chat_id"]), p.get("caption", ""))
        msg["document"] = {"file_id": "f1", "file_unique_id": "u1",
                           "file_name": (p.get("document") or {}).get("filename", "file")}
        self._record("sendDocument", p, msg["message_id"])
        return msg

    # -- the test's side ---------------------------------------------------------------------
    def _push(self, update: dict) -> int:
        with self._cond:
            update["update_id"] = next(self._ids)
            self.state.updates.append(update)
            return update["update_id"]

    def send_text(self, chat_id: int, user_id: int, text: str) -> int:
        """A user writes `text` in `chat_id` (a leading /command is marked as one)."""
        message = {"message_id": next(self._msg_ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"},
                   "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                   "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        return self._push({"message": message})

    def press(self, chat_id: int, user_id: int, message: Sent, data: str) -> str:
        """A user presses an inline button of `message` carrying `data`; returns the
        callback query id (the bot answers it with answerCallbackQuery)."""
        query_id = f"cq{next(self._ids)}"
        self._push({"callback_query": {
            "id": query_id, "chat_instance": str(chat_id), "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "message": self._message(chat_id, message.text, message.message_id)}})
        return query_id

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Sent]:
        with self._cond:
            return [s for s in self.state.sent if (method is None or s.method == method)
                    and (chat_id is None or s.chat_id == chat_id)]

    def wait_for(self, predicate, timeout_s: float = 10.0) -> Sent:
        """The first recorded call matching `predicate`."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for s in self.state.sent:
                    if predicate(s):
                        return s
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching call within {timeout_s} s; sent: "
                                       f"{[(s.method, s.text[:60]) for s in self.state.sent]}")
                self._cond.wait(left)

    def wait_message(self, chat_id: int, after: int = 0, timeout_s: float = 10.0,
                     method: str = "sendMessage") -> Sent:
        """The first `method` call to `chat_id` beyond the first `after` recorded calls."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for s in self.state.sent[after:]:
                    if s.method == method and s.chat_id == chat_id:
                        return s
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {method} to chat {chat_id} within {timeout_s} s; "
                                       f"sent: {[(s.method, s.text[:60]) for s in self.state.sent]}")
                self._cond.wait(left)

    def mark(self) -> int:
        """How many calls are recorded now (pass as `after`)."""
        with self._cond:
            return len(self.state.sent)
