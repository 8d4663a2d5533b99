"""The login gate: who is using the panel, and whether they may act or only look.

Three ways in, checked in this order:
1. `botfleet ui --no-auth` (127.0.0.1 only; the CLI refuses it on any other address) sets
   `BOTFLEET_UI_NO_AUTH=1`: the local user is the operator.
2. Streamlit's own OIDC login (`st.login`) when `.streamlit/secrets.toml` has an `[auth]`
   section: emails listed in `BOTFLEET_UI_OPERATORS` (comma separated) are operators, every
   other signed-in user a viewer.
3. A password, checked against the hashes in `BOTFLEET_UI_PASSWORD_HASH` (operator) and
   `BOTFLEET_UI_VIEWER_HASH` (viewer) by `botfleet.access`.
With none of them configured the panel shows nothing but how to configure one.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from botfleet.access import OPERATOR, VIEWER, AccessError, authenticate, role_hashes

NO_AUTH_ENV = "BOTFLEET_UI_NO_AUTH"
OPERATORS_ENV = "BOTFLEET_UI_OPERATORS"


def _oidc_configured() -> bool:
    try:
        from streamlit.auth_util import get_secrets_auth_section

        return bool(get_secrets_auth_section())
    except Exception:  # noqa: BLE001 - no secrets file, or an older Streamlit
        return False


def _oidc() -> tuple[str, str] | None:
    if not st.user.is_logged_in:
        st.title("botfleet")
        st.button("Log in", on_click=st.login, type="primary")
        st.stop()
    email = str(st.user.get("email") or st.user.get("sub") or "user")
    operators = {e.strip().lower() for e in os.environ.get(OPERATORS_ENV, "").split(",")}
    return email, OPERATOR if email.lower() in operators else VIEWER


def _password_form() -> None:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        _password_box()
    st.stop()


def _password_box() -> None:
    st.title("botfleet")
    st.caption("Control panel: log in with the operator or the viewer password.")
    with st.form("login"):
        password = st.text_input("Password", type="password", key="login_password")
        sent = st.form_submit_button("Log in", type="primary")
    if sent:
        role = authenticate(password or "") if password else None
        if role is None:
            time.sleep(0.5)  # slows guessing; the hashes themselves are slow too
            st.error("Wrong password.")
        else:
            st.session_state["role"], st.session_state["user"] = role, role
            st.rerun()


def gate() -> tuple[str, str]:
    """(user, role) of the session; shows the login and stops the page until there is one."""
    if st.session_state.get("role"):
        return st.session_state["user"], st.session_state["role"]
    if os.environ.get(NO_AUTH_ENV) == "1":
        st.session_state["role"], st.session_state["user"] = OPERATOR, "local"
        return "local", OPERATOR
    if _oidc_configured():
        user, role = _oidc()
        st.session_state["role"], st.session_state["user"] = role, user
        return user, role
    try:
        hashes = role_hashes()
    except AccessError as exc:
        st.error(f"Login is misconfigured: {exc}")
        st.stop()
    if not hashes:
        st.error("No login is configured. Set BOTFLEET_UI_PASSWORD_HASH (operator) and/or "
                 "BOTFLEET_UI_VIEWER_HASH (read-only) to a hash made by `botfleet ui "
                 "hash-password`, configure Streamlit's OIDC login in secrets.toml, or start "
                 "`botfleet ui --no-auth` on 127.0.0.1.")
        st.stop()
    _password_form()
    raise AssertionError("unreachable")  # _password_form stops the script


def logout() -> None:
    for key in ("role", "user"):
        st.session_state.pop(key, None)
    if _oidc_configured() and st.user.is_logged_in:
        st.logout()


def actor() -> str:
    """Who the audit log says did it."""
    return f"ui:{st.session_state.get('user', 'unknown')}"


def operator() -> bool:
    return st.session_state.get("role") == OPERATOR


def require_operator(what: str) -> bool:
    """False (with a note) for a viewer: the control stays visible but disabled."""
    if operator():
        return True
    st.info(f"Read-only: {what} needs the operator role.")
    return False
