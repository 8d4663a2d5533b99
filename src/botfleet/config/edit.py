"""Editing the fleet's YAML safely: check an unsaved edit, diff it, save it, commit it.

Used by the control panel's config editor. An edit is checked by loading the whole fleet with
the edited text in place of the file (nothing is written), so a bot that names a strategy that
does not exist is caught as well as a typo in a key, each at its `file:line:col`. Saving never
replaces a valid file with an invalid one unless the caller says `force=True`; the write is
atomic (a reader sees the old file or the new one, never half). The text is written exactly as
edited, so comments and key order stay; `set_values` changes single values the same way
(round-trip YAML), for the form view.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botfleet.config.form import FormField, form_fields, parse_value, value_at  # noqa: F401 - the editor's API
from botfleet.config.loader import FleetLoad, load_fleet
from botfleet.config.problems import Problem
from botfleet.config.yamlfile import OVERRIDES


class UnsafeSave(ValueError):
    """Saving would replace a valid file with one that has errors."""

    def __init__(self, file: str, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{file}: not saved: the edit has {len(problems)} error(s) and the "
                         "file on disk has none (fix them, or save with the override)")


def check_edit(fleet_path: str | Path, file: str | Path, text: str | None = None,
               *, display_root: str | Path | None = None) -> FleetLoad:
    """Load the fleet as if `file` held `text` (None: as on disk)."""
    fleet_path = Path(fleet_path)
    root = display_root or (fleet_path if fleet_path.is_dir() else fleet_path.parent)
    if text is None:
        return load_fleet(fleet_path, display_root=root)
    token = OVERRIDES.set({Path(file).resolve(): text})
    try:
        return load_fleet(fleet_path, display_root=root)
    finally:
        OVERRIDES.reset(token)


def problems_in(load: FleetLoad, file: str | Path, root: str | Path) -> list[Problem]:
    """The problems `load` found in `file` (its path as the load displays it)."""
    shown = os.path.relpath(Path(file).absolute(), Path(root).absolute())
    return [p for p in load.problems if p.file == shown]


def unified_diff(old: str, new: str, label: str, *, old_label: str = "on disk") -> str:
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        f"{label} ({old_label})", f"{label} (edited)"))


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Saved:
    file: Path
    errors: list[Problem]  # in the saved file (non-empty only when forced)
    changed: bool


def save_edit(fleet_path: str | Path, file: str | Path, text: str, *, force: bool = False
              ) -> Saved:
    """Write `text` to `file` unless that would turn a valid file invalid (`force` allows it).

    Errors are those located in `file` itself: an edit is not blocked by another file's
    problems, and an already-broken file may be saved while it is being repaired."""
    fleet_path, file = Path(fleet_path), Path(file)
    root = fleet_path if fleet_path.is_dir() else fleet_path.parent
    new = [p for p in problems_in(check_edit(fleet_path, file, text), file, root)
           if p.severity == "error"]
    if new and not force:
        old = [p for p in problems_in(check_edit(fleet_path, file), file, root)
               if p.severity == "error"] if file.exists() else []
        if not old:
            raise UnsafeSave(os.path.relpath(file, root), new)
    before = file.read_text(encoding="utf-8") if file.exists() else None
    if before != text:
        write_atomic(file, text)
    return Saved(file, new, before != text)


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    # bandit B603/B607: git from PATH with a fixed argument list, no shell
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,  # nosec B603 B607
                          timeout=30, check=False)


def git_head_text(file: str | Path) -> str | None:
    """The file as committed at HEAD of its repository; None outside git or when untracked."""
    file = Path(file).resolve()
    top = _git(file.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return None
    rel = file.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = _git(file.parent, "show", f"HEAD:{rel}")
    return shown.stdout if shown.returncode == 0 else None


def git_commit(file: str | Path, message: str, *, author: str | None = None) -> str:
    """Commit this one file (nothing else staged is included); the new commit's hash."""
    file = Path(file).resolve()
    if not message.strip():
        raise ValueError("a commit needs a message")
    args = ["commit", "-m", message, "--only", "--", str(file)]
    if author:
        args[1:1] = [f"--author={author}"]
    added = _git(file.parent, "add", "--", str(file))
    done = _git(file.parent, *args) if added.returncode == 0 else added
    if done.returncode != 0:
        raise RuntimeError(f"git commit of {file.name} failed: "
                           f"{(done.stderr or done.stdout).strip()}")
    return _git(file.parent, "rev-parse", "HEAD").stdout.strip()


def set_values(text: str, values: dict[tuple, Any]) -> str:
    """`text` with each (path -> value) set, comments and key order kept. None removes the
    key, and a block left empty by that (`schedule: {}` would fail validation)."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    data = yaml.load(text)
    for path, value in values.items():
        if value is None:
            _remove(data, path)
            continue
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}  # a block the file did not have yet
            node = node[part]
        node[path[-1]] = value
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _remove(data: Any, path: tuple) -> None:
    trail = [data]
    for part in path[:-1]:
        nxt = trail[-1].get(part) if isinstance(trail[-1], dict) else None
        if not isinstance(nxt, dict):
            return  # nothing there to remove
        trail.append(nxt)
    trail[-1].pop(path[-1], None)
    for depth in range(len(trail) - 1, 0, -1):
        if not trail[depth]:
            trail[depth - 1].pop(path[depth - 1], None)
