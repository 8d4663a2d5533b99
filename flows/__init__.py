"""botfleet's Prefect flows, one module per job; each module's `FLOW` is its flow.

Thin by design (docs/architecture.md, principle 3): a flow loads the fleet, fans its units of
work (series, bots) out as tasks and publishes the result; the work itself is a library
function in `botfleet.jobs`, and the Prefect settings come from `botfleet.orchestration`.
"""
