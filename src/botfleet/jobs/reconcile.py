"""The reconcile job: a paper or live bot's ledger compared with its exchange.

`execution.reconcile.reconcile` does the comparison (orders by client id, open orders, recent
trades, fills, positions and balances to the last unit) and halts the bot on a mismatch; this
job gives it the bot's ledger and a broker on the bot's account. One `Session` per flow run
holds the state database and the exchange links the bots share.
"""

from __future__ import annotations

from typing import Any

from botfleet.jobs.trading import by_mode, connection_for


class Session:
    """The ledger, the connections (by mode) and the exchange links of one flow run."""

    def __init__(self, fleet, bots: list[str]):
        from botfleet.execution.ledger import Ledger
        from botfleet.runtime.clients import ExchangeLink

        self.fleet = fleet
        self.ledger = Ledger(fleet.storage.state)
        self.conns = {mode: connection_for(fleet, group, mode)
                      for mode, group in by_mode(fleet, bots).items()}
        self.links = {(mode, name): ExchangeLink(fleet.exchanges[name],
                                                 api_url=conn.api_urls.get(name))
                      for mode, conn in self.conns.items() for name in conn.api_urls}

    def reconcile_bot(self, name: str, *, bus=None) -> dict[str, Any]:
        from botfleet.execution.ccxt_broker import CcxtBroker
        from botfleet.execution.reconcile import ReconcilePolicy, reconcile

        bot = self.fleet.bots[name]
        conn = self.conns[bot.mode]
        link = self.links[(bot.mode, bot.exchange)]
        self.ledger.register_bot(name, bot.exchange, bot.mode)
        broker = CcxtBroker(link.trading_client(conn.credentials(name)),
                            now=conn.clock.now_ms, name=bot.exchange)
        report = reconcile(name, self.ledger, broker,
                           ReconcilePolicy(symbols=bot.pairs, balances=conn.own_accounts),
                           bus=bus)
        return {"bot": name, "outcome": "passed" if report.passed else
                ("halted" if report.halted else "pending"),
                "mismatches": len(report.mismatches), "pending": len(report.pending),
                "fills_recorded": report.fills_recorded, "summary": report.summary()}
