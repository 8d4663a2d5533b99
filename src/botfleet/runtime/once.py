"""One cycle of some bots in a fresh process, then exit: what the orchestration issue's
scheduled `cycle` flow calls.

    results = run_once("fleet.yaml", ["btc-trend"], mode="paper", venue_url="http://…")

Everything a cycle needs comes from the state database and the exchange (the runner keeps no
state between processes): the process starts, reconciles each bot with the exchange (the gate
before any order), runs the close that is due now, records it, and shuts down.
"""

from __future__ import annotations

from pathlib import Path

from botfleet.runtime.cycle import CycleResult


class OnceError(RuntimeError):
    """The fleet or the connection is not usable; the message says why."""


def run_once(fleet: str | Path, bots: list[str] | None = None, *, mode: str = "paper",
             venue_url: str | None = None, options=None) -> list[CycleResult]:
    """Paper bots trade on the simulator at `venue_url`, else at their exchange file's
    `api_url`; live bots on their exchange with credentials from the environment."""
    from botfleet.runtime.clients import CredentialsError
    from botfleet.runtime.connect import VenueUnreachable, live_connection, remote_connection
    from botfleet.runtime.reload import load_checked
    from botfleet.runtime.runner import FleetRunner, RunnerOptions

    if mode not in ("paper", "live"):
        raise OnceError(f"mode {mode!r}: paper or live")
    load = load_checked(Path(fleet))
    if not load.ok:
        raise OnceError("the fleet has errors:\n" + "\n".join(str(p) for p in load.errors))
    chosen = [load.fleet.bots[n] for n in bots] if bots else [
        b for b in load.fleet.enabled_bots() if b.mode == mode]
    wrong = [b.name for b in chosen if b.mode != mode]
    if wrong:
        raise OnceError(f"not {mode} bots: {', '.join(wrong)}")
    try:
        if mode == "live":
            conn = live_connection(load.fleet, chosen)
        else:
            urls = {venue_url} if venue_url else {load.fleet.exchanges[b.exchange].api_url
                                                  for b in chosen}
            if None in urls or len(urls) != 1:
                raise OnceError("paper bots trade on the simulator: pass venue_url, or set "
                                "their exchange's api_url to it")
            conn = remote_connection(urls.pop(), load.fleet, chosen)
    except (CredentialsError, VenueUnreachable) as exc:
        raise OnceError(str(exc)) from None
    runner = FleetRunner(load, conn, bots=[b.name for b in chosen], mode=mode,
                         options=options or RunnerOptions(reload_every_s=0, freeze_heap=False))
    try:
        return runner.run_once()
    finally:
        runner.shutdown()
