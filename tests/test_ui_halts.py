"""The overview's reconciliation halts read in one query for the whole fleet
(`execution.halts.standing`), agreeing with the one-bot read the executor uses, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from botfleet.execution import halts
from botfleet.execution.ledger import Ledger
from botfleet.runtime.status import status_rows

from storage_fixtures import BACKENDS, state_url  # noqa: F401 - fixture


@pytest.mark.parametrize("kind", BACKENDS)
def test_standing_halts_of_every_bot_in_one_query(kind, state_url):  # noqa: F811
    url = state_url(kind)
    ledger = Ledger(url)
    names = [f"bot-{i:02d}" for i in range(6)]
    for n in names:
        ledger.register_bot(n, "binance", "paper")
    halts.halt(ledger, "bot-01", ["order x unknown to the exchange"])
    halts.halt(ledger, "bot-02", ["balance off by 3 USDT"])
    halts.resume(ledger, "bot-02", "ops@example", "checked")
    halts.resume(ledger, "bot-03", "ops@example", "resumed before any halt")
    halts.halt(ledger, "bot-04", ["first"])
    halts.resume(ledger, "bot-04", "ops@example", "checked")
    halts.halt(ledger, "bot-04", ["second"])
    ledger.audit("ops", "kill.engage", "bot:bot-05", {})  # not a halt

    statements = []

    def seen(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    with ledger.engine.connect() as conn:
        got = halts.standing(conn, names + ["never-registered"])
    sa.event.remove(ledger.engine, "before_cursor_execute", seen)
    assert len(statements) == 1, statements
    assert set(got) == {"bot-01", "bot-04"}
    for n in names:  # the same answer as the one-bot read
        assert got.get(n) == halts.halted(ledger, n)
    assert got["bot-04"].reasons == ("second",)
    with ledger.engine.connect() as conn:
        assert halts.standing(conn, []) == {}

    rows = {r.bot: r for r in status_rows(url)}
    assert rows["bot-01"].halted == "order x unknown to the exchange"
    assert rows["bot-04"].halted == "second"
    assert [n for n, r in rows.items() if r.halted] == ["bot-01", "bot-04"]
    ledger.close()
