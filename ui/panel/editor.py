"""The config page's YAML editor: a code editor that reports each change as it is typed, or
Streamlit's text area when that component is missing or switched off.

Streamlit's text area sends its text only on blur or Ctrl+Enter; `streamlit-code-editor`
(Ace, bundled in its wheel: nothing fetched at run time) sends it on every change
(`response_mode="debounce"` with no debounce period: Streamlit drops a run made stale by a
newer key), so the page checks the edit while the user types, and draws
each error in the editor's gutter (an annotation, hover for the message) with its line
highlighted.

One text per file lives in `st.session_state[text_key]`. Each editor instance starts from a
fixed text (`base`) under a key with a generation number: the form, "Discard" or a switch of
editor replace the text by starting a new generation, so an instance is never reset while
the user types in it (a reset from a late rerun would drop the keys typed meanwhile).
"""

from __future__ import annotations

import streamlit as st

try:
    from code_editor import code_editor
except ImportError:  # the `ui` extra without it: the text area still works
    code_editor = None

PLAIN_KEY = "cfg_plain"
_MARK_CSS = ".bf-error-line {position: absolute; background: rgba(255, 75, 75, 0.22);}"


def available() -> bool:
    return code_editor is not None


def _keys(name: str) -> tuple[str, str, str]:
    return f"cfg_text::{name}", f"cfg_base::{name}", f"cfg_gen::{name}"


def _widget_key(name: str, plain: bool) -> str:
    gen = st.session_state.get(_keys(name)[2], 0)
    return f"cfg_{'area' if plain else 'ace'}::{name}::{gen}"


def replace(name: str, text: str) -> None:
    """Put `text` in the editor (a new instance, starting from it)."""
    text_key, base_key, gen_key = _keys(name)
    st.session_state[text_key] = st.session_state[base_key] = text
    st.session_state[gen_key] = st.session_state.get(gen_key, 0) + 1
    for key in [k for k in st.session_state if str(k).startswith("form_")]:
        del st.session_state[key]  # the form shows the new text's values, not those typed


def current(name: str, disk: str, plain: bool) -> str:
    """The edited text of `name`, with whatever the editor sent since the last run."""
    text_key = _keys(name)[0]
    if text_key not in st.session_state:
        replace(name, disk)
    mode_key = f"cfg_mode::{name}"
    if st.session_state.get(mode_key, plain) != plain:  # switched editor: carry the text over
        replace(name, st.session_state[text_key])
    st.session_state[mode_key] = plain
    sent = st.session_state.get(_widget_key(name, plain))
    if plain and isinstance(sent, str):
        st.session_state[text_key] = sent
    elif not plain and isinstance(sent, dict) and sent.get("id"):
        st.session_state[text_key] = sent["text"]
    return st.session_state[text_key]


def show(name: str, plain: bool, errors: list) -> None:
    """Draw the editor of `name`; `errors` (problems with .line/.col/.message) are marked at
    their lines when the code editor is used."""
    _, base_key, _ = _keys(name)
    key = _widget_key(name, plain)
    if plain:
        if key not in st.session_state:
            st.session_state[key] = st.session_state[base_key]
        st.text_area("YAML", key=key, height=480, label_visibility="collapsed",
                     help="Ctrl+Enter (or leaving the box) checks the edit")
        return
    lines = max(st.session_state[base_key].count("\n") + 2, 16)
    code_editor(
        st.session_state[base_key], lang="yaml", theme="default", height=[16, min(lines, 40)],
        response_mode="debounce", key=key,
        # useWorker off: Ace's own YAML linter would replace our annotations with its own
        options={"showLineNumbers": True, "wrap": False, "useWorker": False},
        # debounceChangePeriod 0: the component keeps its copy of the text in step with every
        # key (with the default 250 ms, a rerun landing inside that window sets the editor
        # back to the older copy and the keys typed meanwhile are lost); no completion
        # pop-ups: they offer the file's own words and swallow Enter
        props={"debounceChangePeriod": 0, "enableLiveAutocompletion": False,
               "enableBasicAutocompletion": False, "enableSnippets": False,
               "annotations": [{"row": p.line - 1, "column": max(p.col - 1, 0),
                                "text": p.message, "type": "error" if p.severity == "error" else "warning"}
                               for p in errors],
               "markers": [{"startRow": p.line - 1, "startCol": 0, "endRow": p.line - 1,
                            "endCol": 1, "className": "bf-error-line", "type": "fullLine"}
                           for p in errors]},
        component_props={"globalCSS": _MARK_CSS})
