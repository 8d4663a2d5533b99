"""Streamlit's OIDC login, end to end: `botfleet ui` with an `[auth]` section in
`.streamlit/secrets.toml` pointing at a local OpenID provider (`oidc-provider-mock`: a real
authorization-code flow with signed ID tokens, users typed in its login form), driven in
headless Chromium. An email listed in BOTFLEET_UI_OPERATORS gets the operator role, any
other signed-in user the viewer role (controls shown disabled)."""

from __future__ import annotations

import re
import secrets

import pytest
from test_ui_e2e import ARTIFACTS, CHROMIUM, Panel, _free_port, _nav, _shot, browser  # noqa: F401 - fixture
from ui_fixtures import ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
OPERATOR_EMAIL = "ops@example.org"


@pytest.fixture
def provider():
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def _secrets(folder, provider: str, port: int) -> None:
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    (folder / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(16)}"\n'
        'client_id = "botfleet-panel"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')


def _sign_in(page, url: str, email: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Log in").click()
    page.locator('input[name="sub"]').fill(email)  # the provider's own login form
    page.get_by_role("button", name="Authorize").click()
    page.get_by_role("heading", name="Fleet overview").wait_for(timeout=60_000)


def test_oidc_login_gives_listed_emails_the_operator_role(ui_fleet, browser, provider,  # noqa: F811
                                                         tmp_path):
    port = _free_port()
    _secrets(tmp_path, provider, port)
    panel = Panel(ui_fleet, ARTIFACTS / "panel-oidc.log", port=port, cwd=tmp_path,
                  env={"BOTFLEET_UI_OPERATORS": f"someone@else.org, {OPERATOR_EMAIL.upper()}"})
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(panel.url)
        page.get_by_role("button", name="Log in").wait_for()
        assert page.get_by_label("Password", exact=True).count() == 0  # OIDC, not the password
        _sign_in(page, panel.url, OPERATOR_EMAIL)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text(f"{OPERATOR_EMAIL} (operator)").wait_for()
        _shot(page, "10-oidc-operator")
        _nav(page, "Controls")
        page.get_by_role("heading", name="Kill switch", exact=True).wait_for()
        assert page.get_by_text(re.compile("Read-only")).count() == 0

        viewer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        _sign_in(viewer, panel.url, "guest@example.org")
        viewer.locator('[data-testid="stSidebar"]').get_by_text(
            "guest@example.org (viewer)").wait_for()
        _nav(viewer, "Controls")
        viewer.get_by_text(re.compile("Read-only: .* needs the operator role")).first.wait_for()
        assert viewer.get_by_role("button", name="Engage kill switch").is_disabled()
        _shot(viewer, "11-oidc-viewer")
    finally:
        panel.stop()
