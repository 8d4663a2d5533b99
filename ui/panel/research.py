"""The strategy lab's run: what can be run on what (the fleet's strategies, the candle store's
series), the operator's parameter overrides checked against what the strategy declares, and the
run itself in a worker thread, so the page can show its progress while it goes.

Two ways to run, as the page says: the `research` Prefect flow at PREFECT_API_URL (progress is
the flow run's state, polled from the Prefect API by the run's unique name), or
`jobs.research.run_job` in this process (progress is the job's own steps).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

POLL_S = 0.25


@st.cache_data(ttl=30, show_spinner=False)
def series(url: str) -> list[dict]:
    """Every stored series of the candle store: exchange, pair, timeframe, first, last (ms)."""
    from botfleet.data.store import open_store

    with open_store(url) as store:
        return [{"exchange": c.key.exchange, "pair": c.key.symbol,
                 "timeframe": c.key.timeframe, "first": c.first, "last": c.last}
                for c in store.coverage()]


def parse_params(text: str, declared: dict) -> dict[str, Any]:
    """`name=value` lines (or comma separated) as overrides; an unknown name or a value outside
    the declared choices / range is a ValueError naming the line."""
    out: dict[str, Any] = {}
    items = [s.strip() for line in text.splitlines() for s in line.split(",")]
    for n, item in enumerate(i for i in items if i and not i.startswith("#")):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(f"parameter {n + 1} {item!r}: write name=value")
        if name not in declared:
            raise ValueError(f"parameter {name!r} is not declared by the strategy; declared: "
                             + (", ".join(sorted(declared)) or "none"))
        out[name] = _number(value)
        p = declared[name]
        if p.choices and out[name] not in p.choices and value not in map(str, p.choices):
            raise ValueError(f"parameter {name}={value}: one of "
                             + ", ".join(map(str, p.choices)))
        if isinstance(out[name], str) and not p.choices:
            raise ValueError(f"parameter {name}={value}: a number is expected")
        lo, hi = p.low, p.high
        if lo is not None and not isinstance(out[name], str) and (
                out[name] < lo or (hi is not None and out[name] > hi)):
            raise ValueError(f"parameter {name}={value}: outside its range {lo}..{hi}")
    return out


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass
class Run:
    """A research run going on in a worker thread; `poll()` says how far it is."""

    label: str
    began: float = field(default_factory=time.monotonic)
    pct: int = 0
    text: str = "starting"
    row: dict | None = None
    error: str | None = None
    flow_run: str | None = None  # the Prefect flow run's name, when run as a flow
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()

    def step(self, pct: int, text: str) -> None:  # called from the worker thread
        self.pct, self.text = pct, text

    def elapsed(self) -> float:
        return time.monotonic() - self.began


def _start(run: Run, work: Callable[[], dict]) -> Run:
    def body() -> None:
        try:
            run.row = work()
        except Exception as exc:  # noqa: BLE001 - shown to the operator, masked
            from botfleet.obs.masking import mask

            run.error = mask(str(exc)) or type(exc).__name__

    run.thread = threading.Thread(target=body, name=f"lab {run.label}", daemon=True)
    run.thread.start()
    return run


def start_direct(fleet: str, bot: str, job: str, inputs: dict) -> Run:
    from botfleet.jobs.research import run_job

    run = Run(f"{job} {bot}")
    return _start(run, lambda: run_job(fleet, bot, job, progress=run.step, **inputs))


def start_flow(fleet: str, bot: str, job: str, inputs: dict) -> Run:
    """The `research` flow with a unique run name, so its state can be read back while it
    runs; its first row (the bot's) is the result."""
    from botfleet.orchestration import load_flows

    name = f"lab-{job}-{bot}-{uuid.uuid4().hex[:8]}"
    run = Run(f"{job} {bot}", text=f"Prefect flow run {name}: submitting", flow_run=name)
    flow = load_flows()["research"].with_options(flow_run_name=name)
    params = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in inputs.items()}

    def work() -> dict:
        out = flow(fleet=fleet, job=job, bots=[bot], **params)
        return (out.get("rows") or [{}])[0] if isinstance(out, dict) else {}

    return _start(run, work)


def flow_state(name: str) -> str | None:
    """The Prefect state of the flow run called `name` (None until the API knows it)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=1)
    return runs[0].state_name if runs else None


def follow(run: Run, bar) -> None:
    """Update `bar` until the run ends (the page's script waits here; the worker computes)."""
    name = run.flow_run
    last_poll = 0.0
    while not run.done:
        if name and time.monotonic() - last_poll > 1.0:
            last_poll = time.monotonic()
            try:
                state = flow_state(name)
            except Exception:  # noqa: BLE001 - progress only: the run itself reports errors
                state = None
            run.pct = 50 if state == "Running" else max(run.pct, 10)
            run.text = f"Prefect flow run {name}: {state or 'submitting'}"
        bar.progress(min(run.pct, 99), text=f"{run.text} ({run.elapsed():.0f} s)")
        time.sleep(POLL_S)
