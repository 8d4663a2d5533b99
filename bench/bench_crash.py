"""The crash test in full: a bot trading on the exchange simulator, SIGKILLed at least 100 times.

What is measured is correctness, not speed: after every restart the bot's startup
reconciliation must pass and its books must equal the simulator's exactly (no lost order, no
duplicate, every status, fill and balance the same; `botfleet.execution.crash_harness`). The
kill moments cycle through before_send, in_flight, booked_no_answer, partial_fill, cancel and
random (see the harness's docstring for how each is hit); the table shows, per kill, the bot's
last event before it died, what the books held at that moment (new: intents never sent; sent:
sends without an answer; part: venue orders partly filled; unrec: venue fills not yet in the
ledger; canc: cancels asked for), how the restart's reconciliation resolved them, how many
fills it recorded, how long the restart took (process start to reconciled and checked), and
the verdict. The state database is a SQLite file for `--kills` kills, then PostgreSQL for
`--pg-kills` more; first the bot runs once as a plain process (`python -m
botfleet.execution.crashbot run`) to show the command works outside the fork server.

    .venv/bin/python bench/bench_crash.py [--kills 120] [--pg-kills 12] [--seed 1]

Exit status 1 if any kill ended with a problem.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

from botfleet.execution import crash_harness as ch

PG = os.environ.get("BOTFLEET_TEST_PG_URL", "postgresql+psycopg://127.0.0.1:5432/test")
DATA = Path(os.environ.get("BOTFLEET_SHARED_DATA", "/work/shared/data"))


def pg_url():
    import psycopg

    schema = f"bench_crash_{uuid.uuid4().hex[:8]}"
    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop():
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{PG}?options={quote(f'-csearch_path={schema}')}", drop


def summary(records: list[ch.KillRecord]) -> str:
    by_mode = defaultdict(list)
    for r in records[1:]:
        by_mode[r.mode].append(r)
    lines = [f"{'mode':<17} {'kills':>5} {'ok':>4} " + " ".join(f"{k:>6}" for k in ch.AT_KILL)
             + f" {'resolved':>8} {'fills':>6} {'restart p50':>11}"]
    for mode, rs in by_mode.items():
        hit = {k: sum(1 for r in rs if r.at_kill.get(k, 0) > 0) for k in ch.AT_KILL}
        lines.append(f"{mode:<17} {len(rs):>5} {sum(r.ok for r in rs):>4} "
                     + " ".join(f"{hit[k]:>6}" for k in ch.AT_KILL)
                     + f" {sum(r.resolved for r in rs):>8} {sum(r.fills for r in rs):>6} "
                     f"{statistics.median(r.seconds for r in rs):>9.2f} s")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=120)
    p.add_argument("--pg-kills", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"seed {a.seed}", flush=True)
    failed = 0
    server = ch.ForkServer()
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            (work / "plain").mkdir()
            h = ch.CrashHarness(work / "plain", f"sqlite:///{work / 'plain.db'}", DATA,
                                seed=a.seed, server=server)
            try:
                code = h.run_plain(cycles=10)
                after = h.start("random")
                print(f"plain process: exit {code}, restart check "
                      f"{'ok' if after.ok else after.problems}", flush=True)
                failed += code != 0 or not after.ok
            finally:
                h.close()
            for kind, kills in (("sqlite", a.kills), ("postgresql", a.pg_kills)):
                if not kills:
                    continue
                (work / kind).mkdir()
                url, drop = (f"sqlite:///{work / 'state.db'}", lambda: None) \
                    if kind == "sqlite" else pg_url()
                t0 = time.perf_counter()
                try:
                    records = ch.run(work / kind, url, DATA, kills, seed=a.seed, server=server)
                finally:
                    drop()
                took = time.perf_counter() - t0
                bad = [r for r in records if not r.ok]
                failed += len(bad)
                print(f"\n## {kind}: {kills} kills in {took:.0f} s, {len(bad)} with problems\n")
                print(ch.table(records))
                print()
                print(summary(records), flush=True)
    finally:
        server.close()
    print(f"\n{'ALL OK' if not failed else f'{failed} FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
