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


def _set_text(at, name: str, text: str):
    at.text_area(key=f"cfg_text::{name}").input(text)
    return at.run()


def test_the_editor_shows_the_error_at_its_line_then_saves_the_fix(tmp_path, ui_env):  # noqa: F811
    fleet = copy_fleet(tmp_path)
    ui_env(fleet)
    at = app_test()
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
    at = app_test()
    at.session_state["cfg_file"] = BOT
    at = open_page(at, "config")
    assert at.text_input(key="form_name").value == "btc-trend"
    assert at.selectbox(key="form_mode").value == "(unset)"  # inherited, not in the file
    at.text_input(key="form_description").input("Trend on BTC, edited in the form.")
    at.selectbox(key="form_mode").set_value("backtest")
    next(b for b in at.button if b.label == "Apply to the text").click().run()
    assert not at.exception, at.exception
    text = at.text_area(key=f"cfg_text::{BOT}").value
    disk = (tmp_path / BOT).read_text()
    assert "description: Trend on BTC, edited in the form." in text
    assert text.rstrip().endswith("mode: backtest")
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        line for line in disk.splitlines() if line.startswith("#")]  # every comment kept
    assert at.success[0].value == "Valid."
    assert (tmp_path / BOT).read_text() == disk  # applied to the editor, not saved
    next(b for b in at.button if b.key == "cfg_discard").click().run()
    assert at.text_area(key=f"cfg_text::{BOT}").value == disk
