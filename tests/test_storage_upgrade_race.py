"""Two threads of one process, and two processes, migrating the same fresh state database at
once (the control panel's warm-up and page threads; two runners started by one test; two
services starting together): every call succeeds and the schema is created exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from botfleet.storage.db import current_revision, head_revision, schema_diff, state_engine, upgrade
from botfleet.storage.migrations.options import VERSION_TABLE

from storage_fixtures import BACKENDS, state_url  # noqa: F401 - fixture

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _at_head_once(url: str) -> None:
    head = head_revision()
    assert current_revision(url) == head
    engine = state_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    finally:
        engine.dispose()
    assert [r[0] for r in rows] == [head]
    assert schema_diff(url) == []


def _upgrade_together(urls: list[str]) -> list[str | None]:
    """`upgrade(url)` for each url, each in its own thread, released at the same moment."""
    start = threading.Barrier(len(urls))
    results: dict[int, str | None] = {}
    errors: list[BaseException] = []

    def migrate(i: int, url: str) -> None:
        start.wait()
        try:
            results[i] = upgrade(url)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(i, u)) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return [results[i] for i in range(len(urls))]


@pytest.mark.parametrize("kind", BACKENDS)
def test_two_threads_upgrading_a_fresh_database_at_once_both_succeed(state_url, kind):  # noqa: F811
    for _ in range(3):  # each round a fresh database: the race is at creation
        url = state_url(kind)
        assert _upgrade_together([url, url]) == [head_revision()] * 2
        _at_head_once(url)


@pytest.mark.parametrize("kind", BACKENDS)
def test_two_threads_upgrading_two_databases_at_once_both_succeed(state_url, kind):  # noqa: F811
    """Alembic's proxies are process-wide: different databases race in it too."""
    for _ in range(3):
        urls = [state_url(kind), state_url(kind)]
        assert _upgrade_together(urls) == [head_revision()] * 2
        for url in urls:
            _at_head_once(url)


@pytest.mark.parametrize("kind", BACKENDS)
def test_two_processes_upgrading_a_fresh_database_at_once_both_succeed(
        state_url, kind, tmp_path):  # noqa: F811
    url = state_url(kind)
    flag = tmp_path / "go"
    code = ("import os, sys, time\n"
            "from botfleet.storage.db import upgrade\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.005)\n"
            "print(upgrade(sys.argv[1]))\n")
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", code, url, str(flag)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(3)  # both have imported botfleet and wait for the flag
    flag.touch()  # released together
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == head_revision()
    _at_head_once(url)
