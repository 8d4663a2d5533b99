"""The config editor: an unsaved edit is checked with the whole fleet, its errors located at
their line; a valid file is never replaced by an invalid one without the override; saving
keeps the text as written (comments, key order); diffs against disk and git HEAD; commit."""

from __future__ import annotations

import subprocess

import pytest
from ui_fixtures import (
    app_test,
    copy_fleet,
    open_page,
    ui_env,  # noqa: F401 - fixture
)

from botfleet.config.edit import (
    UnsafeSave,
    check_edit,
    form_fields,
    git_commit,
    git_head_text,
    problems_in,
    save_edit,
    set_values,
    unified_diff,
)

BOT = "bots.d/btc-trend.yaml"


def _line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def test_an_edit_is_checked_with_the_whole_fleet_without_being_written(tmp_path):
    fleet = copy_fleet(tmp_path)
    path = tmp_path / BOT
    disk = path.read_text()
    text = disk.replace("strategy: sma_cross", "strategy: sma_crosss")
    found = problems_in(check_edit(fleet, path, text), path, tmp_path)
    line = _line_of(text, "strategy: sma_crosss")
    assert [(p.file, p.line, p.path) for p in found] == [(BOT, line, "strategy")]
    assert "did you mean 'sma_cross'" in (found[0].hint or found[0].message)
    assert path.read_text() == disk  # nothing written
    assert check_edit(fleet, path).ok  # and the fleet as on disk is still valid


def test_saving_refuses_to_break_a_valid_file_unless_overridden(tmp_path):
    fleet = copy_fleet(tmp_path)
    path = tmp_path / BOT
    disk = path.read_text()
    broken = disk.replace("pairs: [BTC/USDT]", "pairs: [BTC/USDT]\npairz: 3")
    with pytest.raises(UnsafeSave) as err:
        save_edit(fleet, path, broken)
    assert "not saved" in str(err.value) and err.value.problems[0].line == 7
    assert path.read_text() == disk
    saved = save_edit(fleet, path, broken, force=True)
    assert saved.changed and saved.errors and path.read_text() == broken
    # a broken file may be saved while it is repaired (still broken, differently)
    worse = broken.replace("pairz: 3", "pairz: 4")
    assert save_edit(fleet, path, worse).errors
    fixed = save_edit(fleet, path, disk)
    assert not fixed.errors and path.read_text() == disk


def test_form_values_keep_comments_and_key_order():
    text = "# head\nkind: bot\nname: a  # the name\nparameters: {fast: 12, slow: 48}\n"
    out = set_values(text, {("name",): "b", ("parameters", "fast"): 10,
                            ("description",): "new"})
    assert out.startswith("# head\nkind: bot\nname: b  # the name\n")
    assert "fast: 10, slow: 48" in out and out.rstrip().endswith("description: new")
    keys = [f.key for f in form_fields("bot")]
    assert keys[:4] == ["name", "description", "pairs", "strategy"] and "mode" in keys
    assert next(f for f in form_fields("bot") if f.key == "mode").choices == (
        "backtest", "paper", "live")


def test_diff_against_disk_and_git_head_and_commit_of_one_file(tmp_path):
    fleet = copy_fleet(tmp_path)
    path = tmp_path / BOT

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                              capture_output=True, text=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    git("add", "-A")
    git("commit", "-q", "-m", "init")
    assert git_head_text(path) == path.read_text()
    new = path.read_text().replace("fast: 12", "fast: 10")
    diff = unified_diff(path.read_text(), new, BOT)
    assert "-parameters: {fast: 12, slow: 48}" in diff and "+parameters: {fast: 10" in diff
    save_edit(fleet, path, new)
    (tmp_path / "bots.d" / "eth-meanrev.yaml").write_text("# unrelated change\n")
    sha = git_commit(path, "config: fast 10")
    assert git("log", "-1", "--format=%H %s").strip() == f"{sha} config: fast 10"
    assert git("show", "--name-only", "--format=", "HEAD").split() == [BOT]
    assert git_head_text(path) == new
    assert git_head_text(tmp_path.parent / "nowhere.yaml") is None
    with pytest.raises(ValueError, match="message"):
        git_commit(path, " ")


def _plain(at):
    """The text-area editor (the code editor is a browser component: see test_ui_e2e)."""
    at.session_state["cfg_plain"] = True
    return at


def _set_text(at, name: str, text: str):
    at.text_area[0].input(text)
    return at.run()


def test_the_editor_shows_the_error_at_its_line_then_saves_the_fix(tmp_path, ui_env):  # noqa: F811
    fleet = copy_fleet(tmp_path)
    ui_env(fleet)
    at = _plain(app_test())
    at.session_state["cfg_file"] = BOT
    at = open_page(at, "config")
    assert not at.exception, at.exception
    assert at.success[0].value == "Valid."
    path = tmp_path / BOT
    disk = path.read_text()
    broken = disk.replace("timeframe: 1h", "").replace("tags: [trend, majors]",
                                                       "tags: [trend, majors]\ntimefame: 1h")
    at = _set_text(at, BOT, broken)
    line = _line_of(broken, "timefame")
    assert at.error[0].value == f"1 error(s): line(s) {line}"  # the verdict above the editor
    assert at.error[1].value.startswith(f"line {line}, column 1: timefame: unknown key")
    assert f">> {line:4d} | timefame: 1h" in at.code[0].value
    next(b for b in at.button if b.key == "cfg_save").click().run()
    assert "not saved" in at.error[-1].value and path.read_text() == disk
    fixed = broken.replace("timefame: 1h", "timeframe: 4h")
    at = _set_text(at, BOT, fixed)
    assert not at.error and at.success[0].value == "Valid."
    next(b for b in at.button if b.key == "cfg_save").click().run()
    assert path.read_text() == fixed
    assert any(s.value == f"saved {BOT}" for s in at.success)
    from botfleet.storage.audit import audit_entries

    entry = audit_entries(f"sqlite:///{tmp_path / 'data' / 'state.db'}", action="config.save")[0]
    assert (entry.actor, entry.target, entry.detail["forced"]) == ("ui:test-operator", BOT,
                                                                   False)


def test_a_viewer_cannot_save(tmp_path, ui_env):  # noqa: F811
    ui_env(copy_fleet(tmp_path))
    at = open_page(app_test(role="viewer"), "config")
    assert next(b for b in at.button if b.key == "cfg_save").disabled


def test_the_form_view_edits_common_fields_into_the_text_keeping_its_comments(
        tmp_path, ui_env):  # noqa: F811
    fleet = copy_fleet(tmp_path)
    ui_env(fleet)
    at = _plain(app_test())
    at.session_state["cfg_file"] = BOT
    at = open_page(at, "config")
    assert at.text_input(key="form_name").value == "btc-trend"
    assert at.selectbox(key="form_mode").value == "(unset)"  # inherited, not in the file
    at.text_input(key="form_description").input("Trend on BTC, edited in the form.")
    at.selectbox(key="form_mode").set_value("backtest")
    next(b for b in at.button if b.label == "Apply to the text").click().run()
    assert not at.exception, at.exception
    text = at.text_area[0].value
    disk = (tmp_path / BOT).read_text()
    assert "description: Trend on BTC, edited in the form." in text
    assert text.rstrip().endswith("mode: backtest")
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        line for line in disk.splitlines() if line.startswith("#")]  # every comment kept
    assert at.success[0].value == "Valid."
    assert (tmp_path / BOT).read_text() == disk  # applied to the editor, not saved
    next(b for b in at.button if b.key == "cfg_discard").click().run()
    assert at.text_area[0].value == disk


def test_form_fields_reach_into_the_common_blocks_and_parse_what_is_typed():
    from botfleet.config.form import parse_value

    bot = {f.key: f for f in form_fields("bot")}
    assert {"capital.allocation", "sizing.method", "sizing.value", "risk.max_open_positions",
            "risk.kill_switch.on_trigger", "schedule.cycle", "notify.min_severity"} <= set(bot)
    assert bot["capital.allocation"].kind == "amount" and bot["sizing.method"].kind == "choice"
    assert "parameters" not in bot  # free keys stay in the text editor
    fleet = {f.key: f for f in form_fields("fleet")}
    assert {"defaults.mode", "defaults.capital.allocation", "defaults.risk.profile",
            "capital.total", "schedules.report"} <= set(fleet)
    assert "bots" not in fleet and "kind" not in fleet
    assert [f.key for f in form_fields("risk")][:3] == ["name", "description", "limits.profile"]
    amount, count = bot["capital.allocation"], bot["risk.max_open_positions"]
    assert parse_value(amount, "2500") == 2500 and parse_value(amount, "12.5") == 12.5
    assert parse_value(amount, "5%") == "5%" and parse_value(amount, " ") is None
    assert parse_value(count, "3") == 3
    with pytest.raises(ValueError, match=r"risk.max_open_positions: 'three' is not a whole"):
        parse_value(count, "three")
    with pytest.raises(ValueError, match=r"notify.events: nope not one of \*, order_placed"):
        parse_value(bot["notify.events"], "order_filled, nope")


def test_nested_values_are_set_and_removed_keeping_comments():
    text = "# head\nkind: bot\ncapital: {allocation: 4000}  # mine\nrisk:\n  max_position: 2000\n"
    out = set_values(text, {("capital", "allocation"): "5%", ("schedule", "cycle"): "every 5m",
                            ("risk", "max_position"): None})
    head = out.splitlines()[:3]
    assert head[:2] == ["# head", "kind: bot"] and head[2].startswith("capital: {allocation: 5%}")
    assert head[2].endswith("# mine")  # the comment stays at its column
    assert "risk" not in out  # emptied by the removal: gone, not `risk: {}`
    assert out.rstrip().endswith("schedule:\n  cycle: every 5m")


def test_the_form_edits_nested_fields_and_refuses_a_bad_number(tmp_path, ui_env):  # noqa: F811
    fleet = copy_fleet(tmp_path)
    ui_env(fleet)
    at = _plain(app_test())
    at.session_state["cfg_file"] = BOT
    at = open_page(at, "config")
    assert at.text_input(key="form_capital.allocation").value == "4000"
    assert at.text_input(key="form_risk.max_position").value == "2000"
    at.text_input(key="form_capital.allocation").input("30%")
    at.text_input(key="form_risk.max_open_positions").input("1")
    at.text_input(key="form_schedule.cycle").input("every 15m")
    at.selectbox(key="form_sizing.method").set_value("fixed_quote")
    at.text_input(key="form_sizing.value").input("250")
    next(b for b in at.button if b.label == "Apply to the text").click().run()
    assert not at.exception, at.exception
    text = at.text_area[0].value
    assert "capital: {allocation: 30%}" in text
    assert "risk:\n  max_position: 2000\n  max_open_positions: 1\n" in text
    assert "schedule:\n  cycle: every 15m" in text
    assert "sizing:\n  method: fixed_quote\n  value: 250" in text
    assert at.success and at.success[0].value == "Valid.", [e.value for e in at.warning]
    at.text_input(key="form_risk.max_open_positions").input("two")
    next(b for b in at.button if b.label == "Apply to the text").click().run()
    assert at.error[0].value == "risk.max_open_positions: 'two' is not a whole number"
    assert at.text_area[0].value == text  # nothing applied


def test_the_fleet_files_form_edits_its_defaults(tmp_path, ui_env):  # noqa: F811
    fleet = copy_fleet(tmp_path)
    ui_env(fleet)
    at = _plain(app_test())
    at.session_state["cfg_file"] = "fleet.yaml"
    at = open_page(at, "config")
    assert at.selectbox(key="form_defaults.mode").value == "paper"
    assert at.text_input(key="form_defaults.risk.profile").value == "conservative"
    at.selectbox(key="form_defaults.mode").set_value("backtest")
    next(b for b in at.button if b.label == "Apply to the text").click().run()
    assert not at.exception, at.exception
    text = at.text_area[0].value
    assert "  mode: backtest           # backtest | paper | live\n" in text  # comment kept
    assert at.success[0].value == "Valid."


def test_what_the_code_editor_sends_is_checked_and_marked_at_its_line(tmp_path, ui_env):  # noqa: F811
    fleet = copy_fleet(tmp_path)
    ui_env(fleet)
    at = app_test()
    at.session_state["cfg_file"] = BOT
    at = open_page(at, "config")
    assert not at.exception, at.exception
    assert not at.text_area  # the code editor, not the text area
    disk = (tmp_path / BOT).read_text()
    broken = disk.replace("tags: [trend, majors]", "tags: [trend, majors]\ntimefame: 1h")
    line = _line_of(broken, "timefame")
    # what the browser component sends on a change (response_mode="debounce")
    at.session_state[f"cfg_ace::{BOT}::1"] = {"id": "k1", "type": "change", "text": broken,
                                              "lang": "yaml", "selected": "", "cursor": {}}
    at.run()
    assert not at.exception, at.exception
    assert at.error[0].value == f"1 error(s): line(s) {line}"
    assert f">> {line:4d} | timefame: 1h" in at.code[0].value
    import json

    (comp,) = at.get("component_instance")
    args = json.loads(comp.proto.json_args)
    assert [(a["row"], a["type"]) for a in args["props"]["annotations"]] == [(line - 1, "error")]
    assert "unknown key 'timefame'" in args["props"]["annotations"][0]["text"]
    assert args["props"]["markers"][0]["startRow"] == line - 1
