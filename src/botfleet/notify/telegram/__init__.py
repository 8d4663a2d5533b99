"""Telegram control: read and steer the fleet from allowed Telegram chats.

`python-telegram-bot` talks to the Bot API (`https://api.telegram.org`, or `control.telegram.
api_url`: a local `telegram-bot-api` server, or the test server of `tests/telegram_api.py`).
The commands read through the library (`runtime.status`, the ledger, `runtime.trades`) and act
through it (`runtime.controls`, `risk.killswitch`), so Telegram can do nothing the CLI cannot
and every action lands in the same audit log. Modules: `access` (who may ask), `confirm`
(confirmation buttons), `views` (the read-only answers), `commands` (the handlers), `app`
(building and running the PTB application).
"""
