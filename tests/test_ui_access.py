"""Login for the control panel: password hashes, roles, and `botfleet ui`'s refusals."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from ui_fixtures import copy_fleet

from botfleet.access import (
    OPERATOR,
    VIEWER,
    AccessError,
    authenticate,
    check_hash,
    hash_password,
    role_hashes,
    verify_password,
)
from botfleet.cli import app
from botfleet.cli_ui import LaunchError, ui_command


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2_sha256"])
def test_a_hash_checks_its_password_and_no_other(method):
    stored = hash_password("correct horse", method=method)
    assert stored.startswith(method + "$") and "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsf")
    assert not verify_password(stored, "")
    assert hash_password("correct horse", method=method) != stored  # salted


def test_a_broken_hash_is_an_error_naming_the_variable_not_a_wrong_password():
    env = {"BOTFLEET_UI_PASSWORD_HASH": "hunter2"}
    with pytest.raises(AccessError, match="BOTFLEET_UI_PASSWORD_HASH: not a botfleet password"):
        role_hashes(env)
    with pytest.raises(AccessError, match="base64"):
        check_hash("scrypt$16384$8$1$!!!$abc=", "X")
    with pytest.raises(AccessError, match="empty password"):
        hash_password("")


def test_each_password_opens_its_own_role():
    env = {"BOTFLEET_UI_PASSWORD_HASH": hash_password("op"),
           "BOTFLEET_UI_VIEWER_HASH": hash_password("view", method="pbkdf2_sha256")}
    assert authenticate("op", env) == OPERATOR
    assert authenticate("view", env) == VIEWER
    assert authenticate("nope", env) is None
    assert authenticate("op", {}) is None


def test_hash_password_command_prints_a_usable_hash_and_never_the_password():
    got = CliRunner().invoke(app, ["ui", "hash-password", "--stdin"], input="s3cret-pw\n")
    assert got.exit_code == 0, got.output
    stored = got.output.strip()
    assert "s3cret-pw" not in got.output and verify_password(stored, "s3cret-pw")
    bad = CliRunner().invoke(app, ["ui", "hash-password", "--stdin", "--method", "md5"],
                             input="x\n")
    assert bad.exit_code == 2 and "md5" in bad.output


def test_the_panel_refuses_to_start_without_a_login(tmp_path, monkeypatch):
    fleet = copy_fleet(tmp_path)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml with [auth] here
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("BOTFLEET_UI_PASSWORD_HASH", "BOTFLEET_UI_VIEWER_HASH"):
        monkeypatch.delenv(name, raising=False)
    got = CliRunner().invoke(app, ["ui", "--fleet", str(fleet), "--port", "8599"])
    assert got.exit_code == 2 and "no login configured" in got.output
    with pytest.raises(LaunchError, match="only on 127.0.0.1"):
        ui_command(fleet, host="0.0.0.0", no_auth=True, env={})
    with pytest.raises(LaunchError, match="BOTFLEET_UI_VIEWER_HASH"):
        ui_command(fleet, env={"BOTFLEET_UI_VIEWER_HASH": "plain-text-password"})


def test_the_launch_command_passes_the_fleet_and_the_login_mode(tmp_path):
    fleet = copy_fleet(tmp_path)
    cmd, env = ui_command(fleet, port=8600, no_auth=True, env={"PATH": "/usr/bin"})
    assert cmd[1].endswith("ui/serve.py") and cmd[2] == "run"
    assert cmd[3].endswith("ui/app.py")
    assert ["--server.port", "8600"] == cmd[4:6] and "127.0.0.1" in cmd
    assert env["BOTFLEET_UI_FLEET"] == str(fleet.resolve())
    assert env["BOTFLEET_UI_NO_AUTH"] == "1"
    cmd, env = ui_command(fleet, env={"BOTFLEET_UI_PASSWORD_HASH": hash_password("x"),
                                      "BOTFLEET_UI_NO_AUTH": "1"})
    assert "BOTFLEET_UI_NO_AUTH" not in env  # a stray variable does not open the panel
