"""Controls: pause/resume a bot, engage/release a kill switch; each confirmed and audited.

Pause and resume are `botfleet.runtime.controls` (they write their audit entry in the same
transaction); the kill switch is `botfleet.risk.killswitch.KillSwitch`, which tells running
bots through the fleet's bus and audits too. The page only asks, confirms and shows.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from panel import auth, context
from panel.fmt import when

from botfleet.risk.kill import MODES
from botfleet.risk.killswitch import KillSwitch, KillSwitchError
from botfleet.runtime.controls import ControlError, pause, paused_bots, resume
from botfleet.storage.audit import audit_entries

ctx = context.current()
context.need_fleet(ctx)
st.title("Controls")
may = auth.require_operator("pausing, resuming and the kill switch")
bots = sorted(ctx.fleet.bots) if ctx.fleet else []
exchanges = sorted(ctx.fleet.exchanges) if ctx.fleet else []


def _switch() -> KillSwitch:
    return KillSwitch(ctx.state_url, ctx.cache_url, listen=False)


def _done(message: str) -> None:
    st.session_state["controls_done"] = message


if st.session_state.get("controls_done"):
    st.success(st.session_state.pop("controls_done"))

left, right = st.columns(2)
with left:
    st.subheader("Pause / resume")
    st.caption("A paused bot keeps managing what it holds (exits, stops) but opens nothing new.")
    bot = st.selectbox("Bot", ["*", *bots], key="pause_bot",
                       format_func=lambda b: "the whole fleet (*)" if b == "*" else b)
    reason = st.text_input("Reason", key="pause_reason")
    sure = st.checkbox("I confirm", key="pause_confirm", disabled=not may)
    a, b = st.columns(2)
    if a.button("Pause", key="pause_go", disabled=not (may and sure)):
        try:
            info = pause(ctx.state_url, bot, actor=auth.actor(), reason=reason,
                         bus=ctx.cache_url)
            _done(info.describe())
            st.rerun()
        except ControlError as exc:
            st.error(str(exc))
    if b.button("Resume", key="resume_go", disabled=not (may and sure)):
        try:
            lifted = resume(ctx.state_url, bot, actor=auth.actor(), bus=ctx.cache_url)
            _done(f"resumed {bot}" if lifted else f"{bot} was not paused")
            st.rerun()
        except ControlError as exc:
            st.error(str(exc))
    paused = paused_bots(ctx.state_url)
    st.write("**Paused now:** " + (", ".join(p.describe() for p in paused.values()) or "none"))

with right:
    st.subheader("Kill switch")
    st.caption("freeze: no new orders · cancel_orders: also cancel working orders · flatten: "
               "also close positions at market. Risk-reducing orders always pass.")
    scope = st.radio("Scope", ["bot", "exchange", "global"], horizontal=True, key="kill_scope")
    target = None
    if scope == "bot":
        target = st.selectbox("Bot", bots, key="kill_bot")
    elif scope == "exchange":
        target = st.selectbox("Exchange", exchanges, key="kill_exchange")
    mode = st.selectbox("Mode", MODES, index=1, key="kill_mode")
    kill_reason = st.text_input("Reason (required)", key="kill_reason")
    kill_sure = st.checkbox("I confirm: stop trading for this scope", key="kill_confirm",
                            disabled=not may)
    c, d = st.columns(2)
    if c.button("Engage kill switch", key="kill_go", type="primary",
                disabled=not (may and kill_sure)):
        try:
            with st.spinner("engaging"):
                sw = _switch()
                state = sw.engage(scope, target, mode, kill_reason, actor=auth.actor())
                sw.close()
            _done(f"engaged: {state.describe()}")
            st.rerun()
        except KillSwitchError as exc:
            st.error(str(exc))
    if d.button("Release", key="release_go", disabled=not (may and kill_sure)):
        try:
            sw = _switch()
            state = sw.release(scope, target, kill_reason, actor=auth.actor())
            sw.close()
            _done(f"released {state.label}" if state else "no switch was engaged there")
            st.rerun()
        except KillSwitchError as exc:
            st.error(str(exc))

st.subheader("Kill switches in force")
sw = _switch()
active = sw.active()
sw.close()
st.dataframe(pd.DataFrame([{"scope": s.label, "mode": s.mode, "by": s.actor, "reason": s.reason,
                            "since (UTC)": when(s.engaged_at_ms), "release": s.release}
                           for s in active]) if active else pd.DataFrame({"": ["none"]}),
             hide_index=True, width="stretch")

st.subheader("Audit log")
entries = audit_entries(ctx.state_url, limit=50)
st.dataframe(pd.DataFrame([{"when (UTC)": when(e.ts), "actor": e.actor, "action": e.action,
                            "target": e.target, "allowed": e.allowed,
                            "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items())}
                           for e in entries]) if entries else pd.DataFrame({"": ["empty"]}),
             hide_index=True, width="stretch", key="audit_table")
