"""The fleet's scheduled jobs as plain library functions: what each Prefect flow in `flows/`
calls, one unit of work (a series, a bot, a report) per call.

Nothing here imports Prefect (docs/architecture.md, principle 3): each function can be called,
and is tested, on its own. Each returns a JSON-able dict, the row a flow publishes; a failure
raises, so that the flow's task retries it.
"""

from botfleet.jobs.common import JobError, load_checked

__all__ = ["JobError", "load_checked"]
