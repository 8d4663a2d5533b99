"""One Prefect server for the whole test session, shared by every flow test.

It is Prefect's own server (`botfleet.localserver.LocalServer`, what `botfleet up` starts),
not the temporary one `prefect_test_harness` starts: that one runs no scheduler, and the
served-deployment test must see scheduled runs fire. Its scheduler looks every second here.
Everything Prefect writes goes under a temporary PREFECT_HOME. Prefect runs offline.
"""

from __future__ import annotations

import os

import pytest

from botfleet.localserver import OFFLINE

for _key, _value in {**OFFLINE,
                     "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}.items():
    os.environ.setdefault(_key, _value)

FAST_SCHEDULER = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
                  "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "5"}


_SHARED: dict = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """The session's Prefect server, with PREFECT_API_URL (and a temporary home and result
    storage) set for this process, its threads and the flow runs it spawns. Each test module
    that imports this fixture gets its own session-scoped copy of it (pytest's rule), so the
    server itself is shared through `_SHARED`: started by the first, stopped by the last."""
    import prefect.context
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )

    from botfleet.localserver import LocalServer

    if _SHARED["server"] is None:
        home = tmp_path_factory.mktemp("prefect-home")
        _SHARED["server"] = LocalServer(port=0, home=home, env=FAST_SCHEDULER).start(
            timeout_s=180)
    server = _SHARED["server"]
    _SHARED["users"] += 1
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url,
                                         PREFECT_HOME: server.home,
                                         PREFECT_LOCAL_STORAGE_PATH: server.home / "storage"}), \
                prefect.context._temporary_global_settings_context(
                    prefect.context.get_settings_context()):
            yield server
            APILogHandler().flush()  # the last runs' logs reach the server before it stops
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            server.stop()
            _SHARED["server"] = None


EXAMPLE_PARTS = ("fleet.yaml", "exchanges.d", "bots.d", "strategies.d", "notifiers.d",
                 "risk.d", "models.d", "plugins")
LONG_AGO = "0 0 1 1 *"  # a fleet job the tests must not see fire: New Year's midnight


def example_fleet(folder, *, name: str = "example",
                  schedules: dict[str, str] | None = None,
                  cycle: str | None = None, cache: str | None = None,
                  extra_fleet: str = ""):
    """A copy of the repository's example fleet in `folder`, with the fleet's `schedules:`
    replaced (default: jobs that do not fire during a test), every bot's cycle set to
    `cycle` (through the fleet defaults), `storage.cache` set to `cache`, named `name` (tests
    sharing the session's server keep to their own deployments by fleet name)."""
    import re
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for part in EXAMPLE_PARTS:
        src = root / part
        if src.is_dir():
            shutil.copytree(src, folder / part, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy(src, folder / part)
    path = folder / "fleet.yaml"
    text = path.read_text(encoding="utf-8")
    jobs = schedules or {k: LONG_AGO for k in ("ingest", "reconcile", "report", "retrain")}
    block = "schedules:\n" + "".join(f"  {k}: \"{v}\"\n" for k, v in jobs.items())
    text = re.sub(r"(?ms)^schedules:\n(?:  .*\n?)*", block, text)
    text = text.replace("\nname: example\n", f"\nname: {name}\n", 1)
    if cycle:
        text = text.replace("defaults:\n", f"defaults:\n  schedule: {{cycle: \"{cycle}\"}}\n", 1)
    if cache:
        text = text.replace("cache: memory://", f"cache: {cache}")
    path.write_text(text + extra_fleet, encoding="utf-8")
    return path
