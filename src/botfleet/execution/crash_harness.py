"""The crash test's harness (shared by `tests/test_execution_crash.py` and `bench/bench_crash.py`;
a test driver, not a product feature).

The exchange simulator runs here, in this process, and survives every kill; the bot
(`crashbot`) runs in its own process, forked from a fork server, trading on it with its state
database on disk. For each kill the harness arms the venue for the moment it wants to hit, lets
the bot trade (the simulator's manual clock advancing one bar every `tick_s`), waits for the
bot's event line that marks that moment, and SIGKILLs it:

- before_send: the bot dwells after `record_intent` -> an order `new` (written, not sent);
- in_flight: 0.4 s venue latency on `/api/v3/order` -> `submitted`, booked or not (yet);
- booked_no_answer: `accept_then_timeout` -> `submitted`, booked, its answer stalled;
- partial_fill: `partial_fill_next(0.3)`, the bot dwells before recording a fill -> an order
  partly filled on the venue, its fills not all recorded;
- cancel: `accept_then_timeout` on the DELETE -> a cancel asked for, done on the venue, its
  answer stalled;
- random: a uniform delay -> whatever was happening.

Then the clock stops, a new bot starts, reconciles at start, and stands still while `check()`
compares its books with the simulator's: every venue order of the account has exactly one
ledger row with the venue's exchange id, status and executed quantity; its fills sum exactly to
it, trade by trade; ledger orders the venue never had are `new`, `rejected` or `cancelled` and
filled nothing; the position and every balance equal the venue's (Decimal, exact).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from botfleet.execution.crashbot import SYMBOL, ForkServer
from botfleet.execution.ledger import Ledger
from botfleet.execution.reconcile import expected_balances
from botfleet.orders import OrderStatus
from botfleet.sim.fillmodel import FillModel

S = OrderStatus
MODES = ("before_send", "in_flight", "booked_no_answer", "partial_fill", "cancel", "random")
DWELL = {"before_send": "intent:0.4", "partial_fill": "fill:0.3"}
TRIGGER = {"before_send": ("intent", "new"), "in_flight": ("submitted", None),
           "booked_no_answer": ("submitted", None), "partial_fill": ("fill", None),
           "cancel": ("cancel", None)}  # the event (and the order's status in it)
AT_KILL = ("new", "sent", "part", "unrec", "canc")
START_MS = 1_704_067_200_000  # 2024-01-01, inside the recorded BTC/USDT candles
CAPITAL = {"USDT": "100000"}
BOT = "crash"


@dataclass
class KillRecord:
    n: int
    mode: str
    phase: str = ""  # the bot's last event before the kill
    at_kill: dict = field(default_factory=dict)  # what the books held when it died
    reconcile: str = ""
    resolved: int = 0
    fills: int = 0
    outcomes: str = ""  # how reconciliation resolved orders: "subm>fill", "unkn>reje"
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


class CrashHarness:
    def __init__(self, workdir: Path, state_url: str, data_dir: Path, *, seed: int = 0,
                 tick_s: float = 0.03, server: ForkServer | None = None):
        from botfleet.venue import BinanceServer, Clock, MarketData

        self.workdir, self.state_url, self.seed = Path(workdir), state_url, seed
        self.rng = random.Random(seed)  # nosec B311 # a seeded test schedule
        self.tick_s = tick_s
        market = MarketData.from_directory(data_dir, symbols=[SYMBOL], timeframes=["1h"],
                                           clock=Clock(START_MS))
        fills = FillModel(slippage="fixed", bps=5, maker_fee=Decimal("0.001"),
                          taker_fee=Decimal("0.001"))
        self.venue = BinanceServer(market, fills=fills, weight_limit=10**9,
                                   order_limit=0).start()
        self.account = self.venue.add_account(BOT, CAPITAL)
        self.baseline = {k: Decimal(v) for k, v in CAPITAL.items()}
        self.ledger = Ledger(state_url)  # migrates once; bots open it with --no-migrate
        self._ticking = threading.Event()
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._tick, daemon=True, name="crash-clock")
        self._clock.start()
        self._own_server = server is None
        self.server = server or ForkServer()
        self.records: list[KillRecord] = []
        self._bot = 0
        self.pid: int | None = None
        self.events: Path | None = None

    # -- the clock and the bot processes -------------------------------------------------
    def _tick(self) -> None:
        while not self._stop.is_set():
            if self._ticking.wait(0.05):
                self.venue.advance(3_600_000)
                time.sleep(self.tick_s)

    def spawn(self, dwell: str | None = None) -> None:
        self._bot += 1
        self.events = self.workdir / f"bot{self._bot}.events"
        self.go = self.workdir / f"bot{self._bot}.go"
        argv = ["--venue", self.venue.base_url, "--key", self.account.api_key, "--secret",
                self.account.secret, "--state", self.state_url, "--bot", BOT, "--seed",
                str(self.seed), "--events", str(self.events), "--go", str(self.go),
                "--no-migrate"]
        if dwell:
            argv += ["--dwell", dwell]
        self.pid = self.server.fork(argv)

    def lines(self) -> list[list[str]]:
        if self.events is None or not self.events.exists():
            return []
        return [ln.split(" ", 2) for ln in self.events.read_text().splitlines() if ln]

    def wait_for(self, phase: str, timeout: float, after: int = 0,
                 status: str | None = None) -> list[str] | None:
        """The first event `phase` (of an order in `status`) among the bot's events from line
        `after` on."""
        deadline = time.monotonic() + timeout
        seen = after
        while time.monotonic() < deadline:
            rows = self.lines()
            for row in rows[seen:]:
                if row[1] == phase and (status is None or row[2].split(" ")[1] == status):
                    return row
                if row[1] in ("exit", "halted"):
                    raise RuntimeError(f"bot {self._bot} stopped: {' '.join(row)}; log: "
                                       f"{self._log_tail()}")
            seen = len(rows)
            time.sleep(0.002)
        return None

    def _log_tail(self) -> str:
        log = Path(f"{self.events}.log")
        return log.read_text()[-2000:] if log.exists() else ""

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        for _ in range(5000):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.001)

    # -- one kill ------------------------------------------------------------------------
    def start(self, next_mode: str) -> KillRecord:
        """The first bot: start, reconcile, check (record 0)."""
        self.spawn(DWELL.get(next_mode))
        return self._restarted(KillRecord(0, "start"), time.monotonic())

    def one(self, mode: str, next_mode: str | None) -> KillRecord:
        rec = KillRecord(len(self.records), mode)
        self._arm(mode)
        started = len(self.lines())  # events of the startup reconciliation are not triggers
        self.go.touch()
        self._ticking.set()
        if mode == "random":
            time.sleep(self.rng.uniform(0.05, 0.8))
        else:
            phase, status = TRIGGER[mode]
            self.wait_for(phase, 8.0, started, status)
            if mode in ("in_flight", "booked_no_answer", "cancel"):
                time.sleep(0.05)  # the request has left (and, stalled, was booked)
        self.kill()
        self._ticking.clear()
        t0 = time.monotonic()
        rows = self.lines()
        rec.phase = rows[-1][1] if rows else ""
        self.venue.faults.clear()
        rec.at_kill = self.at_kill()
        self.spawn(DWELL.get(next_mode) if next_mode else None)
        return self._restarted(rec, t0)

    def _restarted(self, rec: KillRecord, t0: float) -> KillRecord:
        row = self.wait_for("reconciled", 60.0)
        if row is None:
            rec.problems.append(f"no startup reconciliation within 60 s; {self._log_tail()}")
        else:
            verdict, _, detail = row[2].partition(" ")
            info = json.loads(detail)
            rec.reconcile, rec.resolved, rec.fills = (verdict, len(info["resolved"]),
                                                      info["fills"])
            rec.outcomes = ",".join(f"{a[:4]}>{b[:4]}" for _, a, b in info["resolved"])
            if verdict != "passed":
                rec.problems.append(f"reconciliation {verdict}: {info['mismatches']}")
        rec.seconds = time.monotonic() - t0
        rec.problems += self.check()
        self.records.append(rec)
        return rec

    def _arm(self, mode: str) -> None:
        f = self.venue.faults
        if mode == "in_flight":
            f.latency(0.4, endpoint="/api/v3/order")
        elif mode == "cancel":  # the cancel is done, its answer stalled
            f.accept_then_timeout(n=1, delay_s=3.0, method="DELETE")
        elif mode == "booked_no_answer":
            f.accept_then_timeout(n=1, delay_s=3.0)
        elif mode == "partial_fill":
            f.partial_fill_next(0.3, n=3)

    def at_kill(self) -> dict:
        """What the ledger and the venue held when the bot died."""
        orders = self.ledger.orders(BOT)
        venue = {o.client_id: o for o in self.venue.exchange.orders(BOT)}
        recorded: Counter = Counter()
        for f in self.ledger.fills(bot=BOT):
            recorded[f.client_id] += f.amount
        return {
            "new": sum(o.status is S.NEW for o in orders),
            "sent": sum(o.status in (S.SUBMITTED, S.UNKNOWN) for o in orders),
            "part": sum(o.status is S.PARTIALLY_FILLED for o in venue.values()),
            "unrec": sum(1 for cid, o in venue.items() if o.executed > recorded[cid]),
            "canc": sum(1 for o in orders if o.cancel_requested_at is not None
                        and not o.done),
        }

    # -- the books ------------------------------------------------------------------------
    def check(self) -> list[str]:
        ex, led = self.venue.exchange, self.ledger
        problems: list[str] = []
        vorders = ex.orders(BOT)
        for cid, n in Counter(o.client_id for o in vorders).items():
            if n > 1:
                problems.append(f"duplicate: {n} venue orders with client id {cid}")
        for vo in vorders:
            rec = led.get(vo.client_id)
            if rec is None or rec.bot != BOT:
                problems.append(f"lost: venue order {vo.id} ({vo.client_id}) has no ledger row")
                continue
            if (rec.exchange_id, rec.status, rec.filled) != (str(vo.id), vo.status,
                                                             vo.executed):
                problems.append(f"order {vo.client_id}: ledger {rec.exchange_id} "
                                f"{rec.status.name} {rec.filled}, venue {vo.id} "
                                f"{vo.status.name} {vo.executed}")
            fills = led.fills(vo.client_id)
            if sum((f.amount for f in fills), Decimal(0)) != vo.executed or \
                    {f.trade_id for f in fills} != {str(t) for t in vo.trade_ids}:
                problems.append(f"order {vo.client_id}: fills {[f.trade_id for f in fills]} "
                                f"vs venue trades {vo.trade_ids}")
        on_venue = {o.client_id for o in vorders}
        for rec in led.orders(BOT):
            if rec.client_id not in on_venue and (
                    rec.status not in (S.NEW, S.REJECTED, S.CANCELED) or rec.filled
                    or rec.exchange_id):
                problems.append(f"order {rec.client_id} is {rec.status.name} in the ledger "
                                "and not on the venue")
        held = {a: f + lk for a, (f, lk) in ex.balances(BOT).items()}
        want = expected_balances(self.baseline, led.fills(bot=BOT))
        for asset in sorted(set(held) | set(want)):
            if held.get(asset, Decimal(0)) != want.get(asset, Decimal(0)):
                problems.append(f"balance {asset}: venue {held.get(asset)}, ledger "
                                f"{want.get(asset)}")
        pos = led.position(BOT, SYMBOL).amount
        if pos != held.get("BTC", Decimal(0)):
            problems.append(f"position: ledger {pos}, venue BTC {held.get('BTC')}")
        return problems

    def run_plain(self, cycles: int, timeout: float = 120.0) -> int:
        """The bot as an ordinary process (`python -m botfleet.execution.crashbot run`), no
        fork server, the clock ticking: `cycles` cycles, then its exit code."""
        self._bot += 1
        self.events = self.workdir / f"bot{self._bot}.events"
        argv = [sys.executable, "-m", "botfleet.execution.crashbot", "run", "--venue",
                self.venue.base_url, "--key", self.account.api_key, "--secret",
                self.account.secret, "--state", self.state_url, "--bot", BOT, "--seed",
                str(self.seed), "--events", str(self.events), "--cycles", str(cycles),
                "--no-migrate"]
        self._ticking.set()
        try:
            # bandit B603: argv built here, no shell
            return subprocess.run(argv, check=False, timeout=timeout,  # nosec B603
                                  capture_output=True).returncode
        finally:
            self._ticking.clear()

    def close(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._stop.set()
        self._ticking.set()
        if self._own_server:
            self.server.close()
        self._clock.join(5)
        self.venue.stop()
        self.ledger.close()


def run(workdir: Path, state_url: str, data_dir: Path, kills: int, *, seed: int = 0,
        modes: tuple[str, ...] = MODES, server: ForkServer | None = None) -> list[KillRecord]:
    """`kills` kills cycling through `modes`; the records (the first is the initial start)."""
    plan = [modes[i % len(modes)] for i in range(kills)]
    h = CrashHarness(workdir, state_url, data_dir, seed=seed, server=server)
    try:
        h.start(plan[0])
        for i, mode in enumerate(plan):
            h.one(mode, plan[i + 1] if i + 1 < len(plan) else None)
        return h.records
    finally:
        h.close()


def table(records: list[KillRecord]) -> str:
    head = (f"{'#':>3} {'mode':<17} {'killed at':<10} " + " ".join(f"{k:>5}" for k in AT_KILL)
            + f" {'resolved at restart':<22} {'fills':>5} {'restart s':>9}  result")
    rows = [head, "-" * len(head)]
    for r in records:
        k = r.at_kill
        rows.append(f"{r.n:>3} {r.mode:<17} {r.phase:<10} "
                    + " ".join(f"{k.get(c, ''):>5}" for c in AT_KILL)
                    + f" {r.outcomes or '-':<22} {r.fills:>5} {r.seconds:>9.2f}  "
                    + ("ok" if r.ok else "; ".join(r.problems)[:300]))
    return "\n".join(rows)
