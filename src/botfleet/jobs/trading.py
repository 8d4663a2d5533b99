"""Where a flow run's bots trade: the runtime's `Connection`, chosen from the YAML.

- live bots: `runtime.connect.live_connection` (the exchange, or its file's `api_url`; keys
  from the references in the exchange file);
- paper bots: `runtime.connect.remote_connection` to botfleet's exchange simulator running as
  a service (`botfleet venue serve`), at `$BOTFLEET_VENUE_URL` or else the exchange file's
  `api_url`. A flow run is a fresh process (or any worker), so an in-process simulator would
  forget its accounts between runs: paper trading from flows needs the simulator service.
"""

from __future__ import annotations

import os

from botfleet.jobs.common import JobError

VENUE_ENV = "BOTFLEET_VENUE_URL"


def venue_url(fleet, bots: list) -> str:
    url = os.environ.get(VENUE_ENV)
    if url:
        return url
    urls = sorted({fleet.exchanges[b.exchange].api_url or "" for b in bots})
    if urls == [""] or not urls:
        raise JobError(
            "paper bots trade on botfleet's exchange simulator: run it as a service "
            "('botfleet venue serve') and set the exchange file's api_url, or "
            f"{VENUE_ENV}, to its address (bots: {', '.join(b.name for b in bots)})")
    if len(urls) > 1 or "" in urls:
        raise JobError(f"paper bots on several simulator addresses ({', '.join(urls)}); "
                       f"one flow run talks to one simulator: set {VENUE_ENV}")
    return urls[0]


def connection_for(fleet, bots: list, mode: str):
    """The runtime's connection for `bots`, all of one `mode` (paper or live)."""
    from botfleet.runtime.connect import live_connection, remote_connection

    if mode == "live":
        return live_connection(fleet, bots)
    if mode == "paper":
        return remote_connection(venue_url(fleet, bots), fleet, bots)
    raise JobError(f"bots in mode {mode!r} do not trade (only paper and live do)")


def by_mode(fleet, names: list[str]) -> dict[str, list]:
    out: dict[str, list] = {}
    for name in names:
        bot = fleet.bots[name]
        out.setdefault(bot.mode, []).append(bot)
    return out
