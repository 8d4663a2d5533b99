"""The fleet runtime: a bot's cycle and the fleet runner (many bots, one process).

- `run_cycle(plan, services, now_ms=...)` (cycle): one bot's cycle, from candles to orders,
  with its correlation id on every log line, event and order;
- `FleetRunner` (runner): bots on their schedules in one process, isolated from each other,
  one close at a time for many bots (batch, tick), graceful shutdown, hot reload (reload);
- `run_once(fleet, bots)` (once): one cycle of some bots in a fresh process, for the
  orchestration flow;
- `venue_connection`, `remote_connection`, `live_connection` (connect): where bots trade;
- `status_rows` (status): what `botfleet status` shows, from the state database.

docs/runtime.md describes it. Imported lazily: `botfleet status` needs none of ccxt.
"""

from importlib import import_module

_EXPORTS = {
    "FleetRunner": "runner", "RunnerOptions": "runner", "run_cycle": "cycle",
    "CycleResult": "cycle", "build_plans": "plan", "BotPlan": "plan", "PlanError": "plan",
    "Connection": "connect", "venue_connection": "connect", "remote_connection": "connect",
    "live_connection": "connect", "status_rows": "status", "FleetWatcher": "reload",
    "cycle_context": "logctx", "run_once": "once",
    "OnceError": "once",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'botfleet.runtime' has no attribute {name!r}")
    value = getattr(import_module(f"botfleet.runtime.{module}"), name)
    globals()[name] = value
    return value
