"""A cycle's real duration (`cycles.wall_ms`, migration 0006): recorded by the ledger, shown
as the panel's latency instead of the span on a replay's fast clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from botfleet.execution.ledger import Ledger
from botfleet.runtime.overview import recent_cycles
from botfleet.storage import current_revision, head_revision, schema_diff, upgrade
from botfleet.storage.db import alembic_config, state_engine, transaction

from storage_fixtures import BACKENDS, state_url  # noqa: F401 - fixture


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0006_adds_and_removes_the_wall_time_column(state_url, backend):  # noqa: F811
    url = state_url(backend)
    assert upgrade(url) == head_revision() and schema_diff(url) == []
    eng = state_engine(url)
    try:
        with transaction(eng, write=True) as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        assert "wall_ms" not in {c["name"] for c in sa.inspect(eng).get_columns("cycles")}
        assert current_revision(url) == "0005"
        assert upgrade(url) == head_revision() and schema_diff(url) == []
    finally:
        eng.dispose()


def test_the_latency_is_the_wall_time_not_the_runners_clock(tmp_path):
    """A replay's clock ran an hour while the cycle took 12 ms of real time: the panel's
    latency says 12 ms; an older row without wall time falls back to its clock's span."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    now = [t0]
    led = Ledger(url, clock=lambda: now[0])
    try:
        led.register_bot("b", "binance")
        old = led.begin_cycle("b", candle_ms=1)
        now[0] += timedelta(hours=1)
        led.end_cycle(old, "ok")  # no wall time given: a row as before migration 0006
        new = led.begin_cycle("b", candle_ms=2)
        now[0] += timedelta(seconds=3)
        led.end_cycle(new, "ok", wall_ms=12)
    finally:
        led.close()
    newest, older = recent_cycles(url, "b")
    assert newest["latency_ms"] == 12
    assert older["latency_ms"] == 3_600_000
