"""A small trading bot for the crash test and `bench/bench_crash.py` — a test driver, not a
product feature.

    python -m botfleet.execution.crashbot run --venue URL --key K --secret S --state URL \
        --bot crash --seed 7 [--events FILE] [--go FILE] [--dwell intent:0.3] [--cycles N]
    python -m botfleet.execution.crashbot serve      # fork server (see below)

`run` trades BTC/USDT on the exchange simulator through the real path — `PaperBroker` (ccxt),
`Executor`, `Ledger` on a state database on disk — in cycles whose key is the number of cycles
completed, so a cycle cut short by a kill is re-run with the same client ids. Each cycle, drawn
from (seed, cycle number): market buys and sells, resting limit orders near and far from the
price, cancels of the oldest working order; then `sync()`. At start it reconciles (startup
reconciliation, repeated while orders sent before the crash are still settling) and, when
`--go` is given, waits for that file before trading, so a harness can check the books while
the bot stands still.

Every executor step is written to `--events` as one line, `<time> <phase> <client id>
<status> <filled> <amount>` (phases: start, reconciled, intent, submitted, answered, unknown,
rejected, cancel, cancelled, fill, cycle), with one `write` each, so a line is whole even when
the process is killed; `--dwell PHASE:SECONDS` holds the bot at that phase so an external
SIGKILL lands inside it.

The keys come on the command line (or, forked, through the server's stdin): simulator keys
only. A bot stops when the process that started it is gone.

`serve` is a fork server: it imports everything once (ccxt alone takes ~2 s) and forks a bot
for each JSON line `{"run": [args...]}` on stdin, answering `{"pid": N}`. The forked bot is a
separate process killed by SIGKILL like any other; only its start-up is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal

SYMBOL = "BTC/USDT"
ACTIONS = ("buy", "buy", "sell", "rest", "far", "cancel", "cancel", "sell_limit")


class Events:
    def __init__(self, path: str | None, dwell: str | None):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None
        phase, _, seconds = (dwell or "").partition(":")
        self.dwell_phase, self.dwell_s = phase, float(seconds or 0)

    def __call__(self, phase: str, rec=None, text: str = "") -> None:
        if self.fd is not None:
            what = (f"{rec.client_id} {rec.status.name.lower()} {rec.filled} {rec.amount}"
                    if rec is not None else text)
            os.write(self.fd, f"{time.time():.4f} {phase} {what}\n".encode())
        if phase == self.dwell_phase and self.dwell_s:
            time.sleep(self.dwell_s)


def completed_cycles(ledger, bot: str) -> int:
    import sqlalchemy as sa

    from botfleet.execution.bookkeeping import BOTS, CYCLES

    with ledger.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(CYCLES).join(BOTS).where(
            BOTS.c.name == bot, CYCLES.c.outcome == "ok")).scalar_one()


def plan(seed: int, n: int) -> list[tuple[str, float]]:
    rng = random.Random(f"{seed}:{n}")  # nosec B311 # a seeded test schedule
    return [(rng.choice(ACTIONS), rng.random()) for _ in range(rng.choice((1, 1, 2)))]


def run_cycle(executor, ledger, bot: str, n: int, seed: int, ref: Decimal) -> None:
    from botfleet.orders import Order, OrderType, Side

    cycle = ledger.begin_cycle(bot, key=f"c{n}")
    held = ledger.position(bot, SYMBOL).amount
    for k, (action, x) in enumerate(plan(seed, n)):
        key = f"a{k}:{action}"
        amount = Decimal("0.001") * (1 + int(x * 5))
        if action == "buy":
            executor.place(cycle, key, Order("", SYMBOL, Side.BUY, OrderType.MARKET, amount))
        elif action == "sell" and held >= Decimal("0.001"):
            amount = min(amount, held)
            executor.place(cycle, key, Order("", SYMBOL, Side.SELL, OrderType.MARKET, amount))
        elif action == "rest":
            price = ref * (1 - Decimal(x) / 100)
            executor.place(cycle, key, Order("", SYMBOL, Side.BUY, OrderType.LIMIT, amount,
                                             price))
        elif action == "far":
            executor.place(cycle, key, Order("", SYMBOL, Side.BUY, OrderType.LIMIT, amount,
                                             ref * Decimal("0.7")))
        elif action == "sell_limit" and held >= Decimal("0.002"):
            executor.place(cycle, key, Order("", SYMBOL, Side.SELL, OrderType.LIMIT,
                                             Decimal("0.001"), ref * (1 + Decimal(x) / 100)))
        elif action == "cancel":
            working = ledger.open_orders(bot, SYMBOL)
            if working:
                executor.cancel(working[0].client_id)
    executor.sync()
    ledger.end_cycle(cycle, "ok")


def run_bot(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    events = Events(a.events, a.dwell)
    code = 1
    try:
        code = _trade(a, events)
    finally:
        events("exit", text=str(code))
    return code


def _trade(a: argparse.Namespace, events: Events) -> int:
    import ccxt

    from botfleet.execution.broker import BrokerError
    from botfleet.execution.executor import Executor, GateClosed
    from botfleet.execution.ledger import Ledger
    from botfleet.execution.paper_broker import PaperBroker
    from botfleet.execution.reconcile import ReconcilePolicy, Reconciler

    events("start", text=str(os.getpid()))
    ledger = Ledger(a.state, migrate=not a.no_migrate)
    ledger.register_bot(a.bot, "binance", "paper")
    ledger.start_run(a.bot)
    broker = PaperBroker.venue(a.venue, a.key, a.secret, timeout=a.timeout_ms,
                               enableRateLimit=False, options={"recvWindow": a.recv_window})
    broker.settle_ms = a.recv_window + a.settle_margin
    executor = Executor(ledger, broker, a.bot, probe=events)
    policy = ReconcilePolicy(symbols=(SYMBOL,))
    report = executor.start(policy, wait_s=60)
    events("reconciled", text=f"{'passed' if report.passed else 'failed'} "
           + json.dumps({"summary": report.summary(), "resolved": report.resolved,
                         "mismatches": report.mismatches, "fills": report.fills_recorded}))
    if not report.passed:
        return 3 if report.halted else 4
    parent = os.getppid()  # a bot whose harness died must not trade on forever
    while a.go and not os.path.exists(a.go):
        if os.getppid() != parent:
            return 5
        time.sleep(0.005)
    periodic = Reconciler(executor, policy, every_s=a.reconcile_every)
    n = completed_cycles(ledger, a.bot)
    while (a.cycles is None or n < a.cycles) and os.getppid() == parent:
        try:
            price = broker.exchange.publicGetTickerPrice({"symbol": "BTCUSDT"})["price"]
            run_cycle(executor, ledger, a.bot, n, a.seed, Decimal(price))
            n += 1
            events("cycle", text=str(n))
        except GateClosed as exc:
            events("gated", text=str(exc).replace("\n", " ")[:200])
        except (BrokerError, ccxt.NetworkError) as exc:  # the cycle is retried, same key
            events("error", text=str(exc).replace("\n", " ")[:200])
        report = periodic.maybe_run()
        if report is not None and report.halted:
            events("halted", text=json.dumps(report.mismatches))
            return 3
        time.sleep(a.pause)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m botfleet.execution.crashbot run")
    for name in ("--venue", "--key", "--secret", "--state", "--bot"):
        p.add_argument(name, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--events")
    p.add_argument("--go")
    p.add_argument("--dwell")
    p.add_argument("--cycles", type=int)
    p.add_argument("--pause", type=float, default=0.02)
    p.add_argument("--timeout-ms", type=int, default=1000)
    p.add_argument("--recv-window", type=int, default=1000)
    p.add_argument("--settle-margin", type=int, default=500)
    p.add_argument("--reconcile-every", type=float, default=1.0)
    p.add_argument("--no-migrate", action="store_true")
    return p


def serve() -> int:
    """The fork server: one bot per `{"run": [...]}` line on stdin."""
    import ccxt  # noqa: F401 - imported once here, inherited by every fork

    import botfleet.execution.paper_broker
    import botfleet.execution.reconcile  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked bots are reaped automatically
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        argv = json.loads(line)["run"]
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            log = os.open(argv[argv.index("--events") + 1] + ".log",
                          os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) \
                if "--events" in argv else os.open(os.devnull, os.O_WRONLY)
            os.dup2(log, 1)
            os.dup2(log, 2)
            code = 1
            try:
                code = run_bot(argv)
            except BaseException:  # noqa: BLE001 - the child must not return into the server
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
    return 0


class ForkServer:
    """`python -m botfleet.execution.crashbot serve`, started on first use; `fork(argv)` starts
    a bot and returns its pid."""

    def __init__(self, python: str = sys.executable):
        self.python = python
        self.proc: subprocess.Popen | None = None

    def fork(self, argv: list[str]) -> int:
        if self.proc is None:
            self.proc = subprocess.Popen(  # nosec B603 # this interpreter, fixed module
                [self.python, "-m", "botfleet.execution.crashbot", "serve"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            json.loads(self.proc.stdout.readline())  # {"ready": pid}
        self.proc.stdin.write(json.dumps({"run": argv}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["pid"]

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(10)
            self.proc = None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve()
    if argv[:1] == ["run"]:
        return run_bot(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
