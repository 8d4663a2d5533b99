"""The config page's form view: one widget per field `config.form.form_fields` finds in the
schema (top level first, then a section per block), applied into the text with
`config.edit.set_values`, so the file's comments and key order stay."""

from __future__ import annotations

import streamlit as st
import yaml as pyyaml

from botfleet.config.edit import form_fields, parse_value, set_values, value_at
from panel import editor

UNSET = "(unset)"


def _widget(f, now):
    key, label = f"form_{f.key}", f.key.rsplit(".", 1)[-1] if f.group else f.key
    if f.kind == "choice":
        opts = [UNSET, *map(str, f.choices)]
        pick = st.selectbox(label, opts, help=f.description, key=key,
                            index=opts.index(str(now)) if str(now) in opts else 0)
        return None if pick == UNSET else next(c for c in f.choices if str(c) == pick)
    if f.kind == "bool":
        pick = st.selectbox(label, [UNSET, True, False], help=f.description, key=key,
                            index=[None, True, False].index(now) if now in (True, False) else 0)
        return None if pick == UNSET else pick
    if f.kind == "list":
        hint = f" (comma separated{': ' + ', '.join(map(str, f.choices)) if f.choices else ''})"
        return st.text_input(label, ", ".join(map(str, now or [])), help=f.description + hint,
                             key=key)
    return st.text_input(label, "" if now is None else str(now), help=f.description, key=key)


def show(kind: str, name: str, text: str) -> None:
    try:
        current = pyyaml.safe_load(text) or {}
    except pyyaml.YAMLError:
        current = None
    if not isinstance(current, dict):
        st.info("Fix the text's syntax first.")
        return
    fields = form_fields(kind)
    groups: dict[str, list] = {}
    for f in fields:
        groups.setdefault(f.group, []).append(f)
    typed = {}
    with st.form("cfg_form"):
        for group, members in groups.items():
            box = st.expander(group, expanded=any(value_at(current, f.path) is not None
                                                  for f in members)) if group else st.container()
            with box:
                cols = st.columns(2 if group else 1)
                for i, f in enumerate(members):
                    with cols[i % len(cols)]:
                        typed[f] = _widget(f, value_at(current, f.path))
        sent = st.form_submit_button("Apply to the text")
    if not sent:
        return
    changed, bad = {}, []
    for f, got in typed.items():
        try:
            value = parse_value(f, got)
        except ValueError as exc:
            bad.append(str(exc))
            continue
        if value != value_at(current, f.path):
            changed[f.path] = value
    for msg in bad:
        st.error(msg)
    if changed and not bad:
        editor.replace(name, set_values(text, changed))
        st.rerun()
