"""The fleet runner: many bots in one process, each on its own schedule, each isolated.

    runner = FleetRunner(load, connection, bots=["btc-trend"], mode="paper")
    runner.start()                        # ledger, kill switch, executors, reconciliation
    results = runner.run_once()           # one cycle per bot, now (the orchestration flow)
    asyncio.run(runner.run())             # or: continuously, until SIGTERM / SIGINT

Scheduling is asyncio (one task decides what is due: `on_candle_close` of each bot's
timeframe, `every …`, cron); the cycles themselves are synchronous (ccxt, SQLAlchemy) and run
in daemon worker threads. Isolation: a cycle's exception is its outcome, recorded and
reported, never the runner's; a cycle that overruns its timeout is told to stop before
sending and the runner goes on; a bot whose previous cycle is still running skips the close
(a `cycle:<bot>` lock on the bus also keeps another process's cycle of the same bot out).
Candles are fetched once per (exchange, pair, timeframe) per close (`feed`), under each
exchange's shared request budget (`clients`). Shutdown: no new cycles, running ones get until
the deadline, then orders still being sent are marked `unknown` for reconciliation and their
cycles `interrupted`; runs are closed and the process can exit.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botfleet.bus import open_bus
from botfleet.execution.ccxt_broker import CcxtBroker
from botfleet.execution.executor import Executor
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_machine import label
from botfleet.execution.reconcile import ReconcilePolicy
from botfleet.orders import OrderStatus
from botfleet.risk.killswitch import KillSwitch
from botfleet.risk.store import RiskStore
from botfleet.runtime.batch import run_batch
from botfleet.runtime.clients import ExchangeLink
from botfleet.runtime.connect import Connection
from botfleet.runtime.cycle import CycleResult
from botfleet.runtime.feed import CandleFeed
from botfleet.runtime.logctx import bot_context
from botfleet.runtime.model_reads import prime_models
from botfleet.runtime.plan import BotPlan, build_plans
from botfleet.runtime.pool import DaemonPool
from botfleet.runtime.services import Services
from botfleet.runtime.timing import next_fire

log = logging.getLogger("botfleet.runtime.runner")


@dataclass
class RunnerOptions:
    workers: int = 8
    cycle_timeout_s: float = 60.0  # wall seconds a cycle may take before it is told to stop
    shutdown_deadline_s: float = 30.0
    reload_every_s: float = 2.0  # 0: no hot reload
    reconcile_wait_s: float = 30.0
    until_ms: int | None = None  # stop once the clock passes this (a replay's end)
    notify: bool = False  # with a memory:// bus, run the fleet's notifier on a thread here
    # once started, the garbage collector skips what start() built (until shutdown); a
    # runner that runs one cycle and stops gains nothing from it and pays a full collection
    freeze_heap: bool = True
    # called once the runner has started, before its first close: a replay starts its
    # simulator's clock here, so the runner's start-up costs it no simulated time
    on_started: Callable[[], None] | None = None
    phased: bool = True  # a close's bots all read, then all decide, then all act (`batch`)


@dataclass
class Slot:
    """One bot in the runner: its plan (and the next one, after a reload) and its cycle."""

    plan: BotPlan
    executor: Executor
    next_ms: int = 0
    pending: BotPlan | None = None
    retired: bool = False
    future: Future | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    busy: threading.Lock = field(default_factory=threading.Lock)  # one cycle at a time
    cycle: object = None  # the CycleRecord of the cycle in flight
    run: object = None  # its `cycle.CycleRun`
    last: CycleResult | None = None


def _freeze_heap() -> None:
    """A started runner holds hundreds of thousands of long-lived objects (each bot's ccxt
    client and its markets, plans, compiled strategies) that a full collection would walk
    every time: ~200 ms with the interpreter lock held, in the middle of a close, enough to
    make the slowest close of thirty miss its 250 ms. Frozen (`gc.freeze`), they are left out
    of every later collection; garbage they make later is still collected."""
    gc.collect()
    gc.freeze()


class FleetRunner:
    def __init__(self, load, connection: Connection, *, bots: list[str] | None = None,
                 mode: str = "paper", options: RunnerOptions | None = None):
        self.load = load
        self.fleet = load.fleet
        self.conn = connection
        self.mode = mode
        self.options = options or RunnerOptions()
        self.clock = connection.clock
        self.wanted = list(bots) if bots else None
        from botfleet.runtime.reload import FleetWatcher

        self.watcher = FleetWatcher(load)  # the files as loaded: later edits are changes
        self.plans, self.problems = build_plans(load, self.wanted)
        for name, problem in self.problems.items():
            log.error("bot %s not started: %s", name, problem)
        self.slots: dict[str, Slot] = {}
        self.results: list[CycleResult] = []
        self.svc: Services | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._batches: list[threading.Thread] = []  # closes being coordinated
        self.started = self._shut = False

    # -- building ---------------------------------------------------------------------------
    def _ledger_now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    def start(self) -> FleetRunner:
        """Open the state database, the kill switch and the bus; one executor per bot,
        reconciled with the exchange before its first order."""
        fleet = self.fleet
        ledger = Ledger(fleet.storage.state, clock=self._ledger_now)
        risk = RiskStore(ledger.engine, migrate=False)
        kill = KillSwitch(risk, fleet.storage.cache, clock=self.clock.now_ms)
        self.links = {name: ExchangeLink(fleet.exchanges[name],
                                         api_url=self.conn.api_urls.get(name))
                      for name in {p.exchange.name for p in self.plans.values()}}
        self.svc = Services(ledger, risk, kill, CandleFeed(self.links), open_bus(
            fleet.storage.cache), self.clock, self._executor, self._market)
        self.pool = DaemonPool(self.options.workers)
        futures = {name: self.pool.submit(self._add_slot, plan)
                   for name, plan in self.plans.items()}
        for name, fut in futures.items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - one bot's start must not stop the rest
                self.problems[name] = f"{type(exc).__name__}: {exc}"
                log.error("bot %s not started: %s", name, self.problems[name])
        kill.on_change(self._kill_changed)
        from botfleet.runtime.control_listen import listen

        self.controls = listen(self)  # pause / resume / reload on the bus
        self.notifier = self._start_notifier()
        if self.options.freeze_heap:
            _freeze_heap()
        self.started = True
        return self

    def _start_notifier(self):
        """The fleet's notifier on a thread of this process when the bus is in-process (no
        other process can read it); with Redis, `botfleet notify run` reads the events."""
        fleet = self.fleet
        if not (self.options.notify and fleet.notifiers
                and str(fleet.storage.cache).startswith("memory://")):
            return None
        from botfleet.notify import NotifierThread

        try:
            return NotifierThread(fleet, self.svc.bus).start()
        except Exception as exc:  # noqa: BLE001 - notifications never stop trading
            log.error("notifications are off: %s: %s", type(exc).__name__, exc)
            return None

    def _add_slot(self, plan: BotPlan) -> Slot:
        svc, name = self.svc, plan.name
        with bot_context(name):
            svc.ledger.register_bot(name, plan.exchange.name, self.mode)
            svc.run_ids[name] = svc.ledger.start_run(name)
            link = self.links[plan.exchange.name]
            broker = CcxtBroker(link.trading_client(self.conn.credentials(name)),
                                now=self.clock.now_ms, name=plan.exchange.name)
            executor = Executor(svc.ledger, broker, name)
            slot = Slot(plan, executor)
            self.slots[name] = slot
            self._reconcile(slot, self.options.reconcile_wait_s)
            return slot

    def _policy(self, plan: BotPlan) -> ReconcilePolicy:
        return ReconcilePolicy(symbols=plan.config.pairs, balances=self.conn.own_accounts)

    def _reconcile(self, slot: Slot, wait_s: float) -> None:
        report = slot.executor.start(self._policy(slot.plan), wait_s=wait_s)
        (log.info if report.passed else log.error)("reconciliation %s", report.summary())

    def _executor(self, bot: str) -> Executor:
        return self.slots[bot].executor

    def _market(self, bot: str, symbol: str):
        try:
            return self.slots[bot].executor.broker.market(symbol)
        except KeyError:
            raise LookupError(f"bot {bot}: exchange {self.slots[bot].plan.exchange.name} "
                              f"lists no market {symbol}") from None

    # -- one close --------------------------------------------------------------------------
    def run_once(self, bots: list[str] | None = None, *, now_ms: int | None = None
                 ) -> list[CycleResult]:
        """One cycle for each named bot (default: all) at `now_ms` (default: the clock's
        now); returns when all are done or past the cycle timeout."""
        if not self.started:
            self.start()
        now = self.clock.now_ms() if now_ms is None else now_ms
        for name in bots or []:
            if name not in self.slots:
                log.error("bot %s: %s", name, self.problems.get(name, "not in this runner"))
        names = [n for n in (bots or list(self.slots)) if n in self.slots]
        slots = [self.slots[n] for n in names]
        prime_models(self, slots, now)  # the model reads of every bot, one batch
        out = run_batch(self, slots, now)
        self.results.extend(out)
        return out

    # -- running continuously ---------------------------------------------------------------
    async def run(self, *, install_signals: bool = True) -> None:
        """Cycle every bot on its schedule until `stop()` (or SIGTERM/SIGINT), then shut
        down within the deadline."""
        if not self.started:
            self.start()
        if self.options.on_started is not None:
            self.options.on_started()
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        tasks = [asyncio.create_task(self._schedule())]
        if self.options.reload_every_s > 0:
            from botfleet.runtime.reload import watch

            tasks.append(asyncio.create_task(watch(self, self.options.reload_every_s)))
        try:
            await tasks[0]
        finally:
            for t in tasks[1:]:
                t.cancel()
            await asyncio.to_thread(self.shutdown)

    def stop(self) -> None:
        """No new cycles; `run()` returns after the shutdown (safe from a signal handler)."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    def _due(self, slot: Slot, now: int) -> int:
        plan = slot.pending or slot.plan
        return next_fire(plan.config.cycle, plan.timeframe, now)

    async def _schedule(self) -> None:
        now = self.clock.now_ms()
        for slot in self.slots.values():
            slot.next_ms = self._due(slot, now)
        while not self._stopping:
            live = [s for s in self.slots.values() if not s.retired]
            if not live:
                await self.clock.sleep_until(self.clock.now_ms() + 1000, self._wake)
                self._wake.clear()
                continue
            due = min(s.next_ms for s in live)
            if self.options.until_ms is not None and due >= self.options.until_ms:
                log.info("the clock reached the end of the run (%s)", self.options.until_ms)
                await asyncio.to_thread(self.wait_idle, self.options.cycle_timeout_s)
                break
            if not await self.clock.sleep_until(due, self._wake):
                self._wake.clear()
                continue  # woken: stopping, or a reload changed the schedule
            now = self.clock.now_ms()
            batch = [s for s in live if s.next_ms <= now]
            for slot in batch:
                slot.next_ms = self._due(slot, now)
            # the close is coordinated on a thread of its own; the schedule goes on
            worker = threading.Thread(target=self._close_batch, args=(batch, now), daemon=True,
                                      name=f"botfleet-close-{now}")
            self._batches = [t for t in self._batches if t.is_alive()] + [worker]
            worker.start()

    def _close_batch(self, slots: list[Slot], now: int) -> None:
        try:
            prime_models(self, slots, now)
            results = run_batch(self, slots, now)
        except Exception:  # a bug of the runner's own: reported, the schedule goes on
            log.exception("the close at %s failed before its cycles ran", now)
            return
        for r in results:
            if r.bot in self.slots:
                self.slots[r.bot].last = r
        self.results.extend(results)

    # -- kill switch and shutdown -----------------------------------------------------------
    def _kill_changed(self, active) -> None:
        """A switch arrived: bots it covers cancel and flatten now, not at their next close."""
        if self._stopping or not active:
            return
        now = self.clock.now_ms()
        for slot in list(self.slots.values()):
            state = self.svc.killswitch.active_for(slot.plan.name, slot.plan.exchange.name)
            # a bot in a cycle acts on the switch in it (slot busy)
            if state is not None and (state.cancels_orders or state.flattens) and \
                    slot.busy.acquire(blocking=False):
                slot.future = self.pool.submit(self._kill_job, slot, state, now)

    def _kill_job(self, slot: Slot, state, now: int):
        from botfleet.runtime.killcycle import kill_cycle

        try:
            return kill_cycle(slot.plan, self.svc, state, now)
        finally:
            slot.busy.release()

    def shutdown(self, deadline_s: float | None = None) -> list[str]:
        """Stop: wait for running cycles up to the deadline, then record what is still in
        flight for reconciliation; close runs and connections. Returns the client ids
        marked unknown."""
        self._stopping = True
        if self.svc is None or self._shut:
            return []
        self._shut = True
        deadline = self.options.shutdown_deadline_s if deadline_s is None else deadline_s
        end = time.monotonic() + deadline
        for worker in list(self._batches):  # a close being read or judged: let it finish
            worker.join(max(0.0, end - time.monotonic()))
        running = {n: s for n, s in self.slots.items() if s.future and not s.future.done()}
        if running:
            log.info("shutdown: waiting up to %.1fs for %d running cycle(s)",
                     max(0.0, end - time.monotonic()), len(running))
            wait_futures([s.future for s in running.values()],
                         timeout=max(0.0, end - time.monotonic()))
        marked = []
        for name, slot in running.items():
            if slot.future.done():
                continue
            slot.stop.set()
            marked += self._abandon(name, slot)
        ledger = self.svc.ledger
        for name in self.slots:
            run_id = self.svc.run_ids.get(name)
            if run_id is not None:
                ledger.stop_run(run_id, "shutdown")
        self.pool.shutdown()
        if getattr(self, "controls", None) is not None:
            self.controls.close()
        self.svc.killswitch.close()
        if getattr(self, "notifier", None) is not None:
            self.notifier.stop()  # held messages go out as one digest per channel
        self.svc.bus.close()
        if self.options.freeze_heap:  # a process that goes on (a Prefect worker running
            gc.unfreeze()  # cycle flows, tests) can collect this runner's cycles again
        return marked

    def _abandon(self, name: str, slot: Slot) -> list[str]:
        """A cycle still running at the deadline: its sends in flight become `unknown`."""
        ledger = self.svc.ledger
        marked = []
        sending = ledger.orders(name, statuses=[OrderStatus.SUBMITTED])
        for rec in sending:
            ledger.mark_unknown(rec.client_id, "the runner shut down while this order was "
                                "being sent; reconciliation looks it up by client id")
            marked.append(rec.client_id)
        if slot.run is not None:
            slot.run.close("interrupted", "shutdown deadline passed")
        log.warning("bot %s: cycle still running at the shutdown deadline; %d order(s) marked "
                    "%s for reconciliation", name, len(marked), label(OrderStatus.UNKNOWN))
        return marked

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Until no cycle runs (tests, replays)."""
        end = time.monotonic() + timeout_s
        for worker in list(self._batches):
            worker.join(max(0.0, end - time.monotonic()))
        for slot in self.slots.values():
            if slot.future is not None:
                wait_futures([slot.future], timeout=max(0.0, end - time.monotonic()))
        return all(s.future is None or s.future.done() for s in self.slots.values())
