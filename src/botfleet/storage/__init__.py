"""The state database: SQLAlchemy models, Alembic migrations, repositories.

Today it holds backtest results (`ResultStore`) and, through `optuna_storage_url`, Optuna's
resumable studies. SQLite by default (`sqlite:///data/state.db`), PostgreSQL at scale, with the
same models and the same migrations; `upgrade(url)` brings either to the newest schema.
"""

from botfleet.storage.db import current_revision, head_revision, schema_diff, state_engine, upgrade
from botfleet.storage.urls import (
    DEFAULT_STATE_URL,
    StateDatabaseError,
    optuna_storage_url,
    redact,
)

__all__ = [
    "DEFAULT_STATE_URL", "KINDS", "EquityCurve", "ResultStore", "RunNotFound", "RunSummary",
    "StateDatabaseError", "current_revision", "head_revision", "optuna_storage_url", "redact",
    "schema_diff", "state_engine", "upgrade",
]

_RESULTS = {"KINDS", "EquityCurve", "ResultStore", "RunNotFound", "RunSummary"}


def __getattr__(name: str):
    """The result store pulls in the backtester's record types (numba): loaded on first use, so
    `botfleet kill` and the runtime's state access start in a fraction of a second."""
    if name in _RESULTS:
        from botfleet.storage import results

        return getattr(results, name)
    raise AttributeError(f"module 'botfleet.storage' has no attribute {name!r}")
