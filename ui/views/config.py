"""Config editor: browse the fleet's YAML, edit with validation as you type, diff, save,
commit.

Every check is `botfleet.config.edit.check_edit`: the whole fleet loaded with the edit in
place, so each error is shown at its line with the text around it. Saving goes through
`save_edit`, which refuses to replace a valid file with an invalid one unless overridden.
"""

from __future__ import annotations

import streamlit as st
from panel import auth, context, editor, form

from botfleet.config.edit import (
    UnsafeSave,
    check_edit,
    git_commit,
    git_head_text,
    problems_in,
    save_edit,
    unified_diff,
)

ctx = context.current()
root = ctx.path.parent
st.title("Config")
st.html("<style>textarea {font-family: 'Source Code Pro', monospace !important; "
        "font-size: 0.85rem !important}</style>")
files = context.yaml_files(root)
rel = [str(p.relative_to(root)) for p in files]
name = st.selectbox("File", rel, key="cfg_file",
                    index=rel.index(st.session_state["cfg_file"])
                    if st.session_state.get("cfg_file") in rel else 0)
path = root / name
disk = path.read_text(encoding="utf-8")
plain = st.toggle("Plain text box (checks on Ctrl+Enter or leaving the box)", key=editor.PLAIN_KEY,
                  value=not editor.available(), disabled=not editor.available(),
                  help="The code editor checks the YAML as you type; switch it off if it "
                       "does not show in your browser.")
text = editor.current(name, disk, plain)
load = check_edit(ctx.path, path, text, display_root=root)
mine = problems_in(load, path, root)
errors = [p for p in mine if p.severity == "error"]
others = [p for p in load.errors if p not in mine]


def excerpt(text: str, line: int, around: int = 2) -> str:
    lines = text.splitlines()
    lo, hi = max(line - 1 - around, 0), min(line + around, len(lines))
    return "\n".join(f"{'>>' if i + 1 == line else '  '} {i + 1:4d} | {lines[i]}"
                     for i in range(lo, hi))


tab_text, tab_form, tab_diff = st.tabs(["Text", "Form", "Diff"])
with tab_text:
    if not mine:
        st.success("Valid" + (" (this file)" if others else "") + ".")
    elif errors:
        st.error(f"{len(errors)} error(s): line(s) " + ", ".join(str(p.line) for p in errors))
    editor.show(name, plain, mine)
    for p in mine:
        show = st.error if p.severity == "error" else st.warning
        show(f"line {p.line}, column {p.col}: {p.path}: {p.message}"
             + (f" ({p.hint})" if p.hint else ""))
        st.code(excerpt(text, p.line), language=None)
    if others:
        with st.expander(f"{len(others)} error(s) in other files"):
            for p in others:
                st.code(str(p), language=None)

with tab_form:
    kind = (ctx.load.entries and next((e.kind for es in ctx.load.entries.values() for e in es
                                       if e.doc.path.resolve() == path.resolve()), None))
    if not kind and path.resolve() == ctx.path.resolve():
        kind = "fleet"
    if not kind:
        st.info("No form for this file (it is not a file the fleet loads, or it has errors).")
    else:
        form.show(kind, name, text)

with tab_diff:
    d = unified_diff(disk, text, name)
    st.code(d or "no changes against the file on disk", language="diff")
    head = git_head_text(path)
    if head is None:
        st.caption("Not tracked in git (no diff against HEAD).")
    else:
        st.code(unified_diff(head, text, name, old_label="git HEAD") or "same as git HEAD",
                language="diff")

may = auth.require_operator("saving configuration")
force = False
if errors:
    force = st.checkbox("Override: save even though this file has errors", key="cfg_force",
                        disabled=not may)
commit = st.checkbox("Commit to git after saving", key="cfg_commit", disabled=not may)
message = st.text_input("Commit message", f"config: edit {name} from the UI",
                        key="cfg_message") if commit else ""
if st.button("Save", key="cfg_save", type="primary", disabled=not may or text == disk):
    try:
        saved = save_edit(ctx.path, path, text, force=force)
        auth_note = f"saved {name}" + (" (with errors, overridden)" if saved.errors else "")
        from botfleet.storage.audit import record_audit

        if ctx.state_url:
            record_audit(ctx.state_url, actor=auth.actor(), action="config.save", target=name,
                         detail={"forced": bool(saved.errors), "errors": len(saved.errors)})
        if commit:
            sha = git_commit(path, message, author=None)
            auth_note += f", committed {sha[:10]}"
        st.session_state["cfg_saved"] = auth_note
        st.rerun()
    except UnsafeSave as exc:
        st.error(str(exc))
    except RuntimeError as exc:
        st.error(str(exc))
if st.session_state.get("cfg_saved"):
    st.success(st.session_state.pop("cfg_saved"))
if text != disk and st.button("Discard edits", key="cfg_discard"):
    editor.replace(name, disk)
    st.rerun()
