"""A bot's Prefect runs are its fleet's: two fleets with a bot of the same name do not see each
other's runs (the session's real Prefect server, prefect_fixtures.py)."""

from __future__ import annotations

import logging
import uuid

from prefect.utilities.hashing import file_hash

from botfleet.orchestration import bot_runs, fleet_name_of, job_flow, job_task

from prefect_fixtures import prefect_server  # noqa: F401 - fixture


@job_task("reconcile", task_run_name="reconcile {bot}")
def per_bot(bot: str) -> dict:
    return {"bot": bot}


@job_flow("reconcile")
def tiny(fleet: str, bot: str) -> dict:
    """Shaped like the fleet's flows: a `fleet` parameter, one task per bot named after it."""
    per_bot(bot)
    return {"bot": bot}


def broken_hook(flow_obj, flow_run, state) -> None:
    raise RuntimeError("a hook of someone else's")


@job_flow("reconcile", on_running=[broken_hook])
def hooked(fleet: str) -> str:
    return fleet


class Records(logging.Handler):
    """The messages Prefect's flow-run and engine loggers emit (hooks are logged on the
    engine's while the run starts)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _fleet(folder, name: str):
    folder.mkdir()
    (folder / "fleet.yaml").write_text(f"kind: fleet\nversion: 1\nname: {name}\n",
                                       encoding="utf-8")
    return folder


def test_a_bots_runs_are_those_of_its_fleet(prefect_server, tmp_path, monkeypatch):  # noqa: F811
    from prefect import get_client

    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    tag = uuid.uuid4().hex[:8]
    bot, one, two = f"btc-{tag}", f"one-{tag}", f"two-{tag}"
    a, b = _fleet(tmp_path / "a", one), _fleet(tmp_path / "b", two)
    records = Records()
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.engine")]
    for one_logger in loggers:
        one_logger.addHandler(records)
    try:
        states = [tiny(fleet=str(a), bot=bot, return_state=True),
                  tiny(fleet=str(b / "fleet.yaml"), bot=bot, return_state=True),
                  tiny(fleet=str(a / "fleet.yaml"), bot=bot, return_state=True)]
        assert hooked(fleet=str(a), return_state=True).is_completed()
    finally:
        for one_logger in loggers:
            one_logger.removeHandler(records)
    assert all(s.is_completed() for s in states)
    # tagging logs nothing; another hook's failure is still logged
    assert any("Finished in state Completed" in m for m in records.messages), records.messages
    hook_lines = [m for m in records.messages if "hook" in m.lower()]
    assert len(hook_lines) == 2 and "'broken_hook'" in hook_lines[1], hook_lines
    assert "An error was encountered while running hook" in hook_lines[1]
    assert tiny.version == file_hash(__file__)  # the flow's own file, not the decorator's

    with get_client(sync_client=True) as client:
        first = client.read_flow_run(states[0].state_details.flow_run_id)
    assert {"botfleet", f"fleet:{one}", "job:reconcile"} <= set(first.tags)

    mine, theirs = bot_runs(bot, fleet=one), bot_runs(bot, fleet=two)
    assert [r["task"] for r in mine] == [f"reconcile {bot}"] * 2
    assert [r["task"] for r in theirs] == [f"reconcile {bot}"]
    assert {r["flow_run"] for r in mine}.isdisjoint({r["flow_run"] for r in theirs})
    assert all(r["state"] == "Completed" for r in mine + theirs)
    assert len(bot_runs(bot)) == 3  # without a fleet: every fleet's
    assert bot_runs(bot, fleet=f"none-{tag}") == []


def test_the_fleet_name_is_read_from_the_file_or_its_folder(tmp_path):
    folder = _fleet(tmp_path / "f", "alpha")
    assert fleet_name_of(str(folder)) == fleet_name_of(folder / "fleet.yaml") == "alpha"
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    assert fleet_name_of(str(tmp_path / "bad.yaml")) is None
    assert fleet_name_of(str(tmp_path / "missing.yaml")) is None
    assert fleet_name_of(None) is None
