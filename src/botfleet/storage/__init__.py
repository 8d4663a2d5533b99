"""The state database: SQLAlchemy models, Alembic migrations, repositories.

Today it holds backtest results (`ResultStore`) and, through `optuna_storage_url`, Optuna's
resumable studies. SQLite by default (`sqlite:///data/state.db`), PostgreSQL at scale, with the
same models and the same migrations; `upgrade(url)` brings either to the newest schema.
"""

from botfleet.storage.db import current_revision, head_revision, schema_diff, state_engine, upgrade
from botfleet.storage.results import KINDS, EquityCurve, ResultStore, RunNotFound, RunSummary
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
