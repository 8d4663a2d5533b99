"""Loading a fleet: the root file, every file it lists, their schemas, then cross-file checks.

The loader never stops at the first mistake: each file is read and checked on its own, so one
run reports every problem in every file. Cross-file checks run only on objects whose own file
passed its schema, so that one typo does not fan out into a cascade of follow-on errors.
"""

from __future__ import annotations

import glob as globlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botfleet.config import schemas
from botfleet.config.problems import ConfigError, Problem, did_you_mean
from botfleet.config.refs import reference_problems
from botfleet.config.yamlfile import Document, load_document

# fleet key -> kind of the objects it lists
LISTS = {"exchanges": "exchange", "bots": "bot", "strategies": "strategy",
         "notifiers": "notifier", "risk_profiles": "risk", "models": "model"}
LIST_OF_KIND = {kind: key for key, kind in LISTS.items()}


@dataclass
class Entry:
    """One declared object (a bot, an exchange, …): in its own file or inline in the fleet."""

    kind: str
    data: dict
    doc: Document
    prefix: tuple = ()
    valid: bool = True

    @property
    def name(self) -> str | None:
        name = self.data.get("name")
        return name if isinstance(name, str) else None

    def problem(self, path: tuple, message: str, hint: str | None = None, *, key: bool = False,
                severity: str = "error") -> Problem:
        return self.doc.problem(self.prefix + tuple(path), message, hint, key=key,
                                severity=severity)

    @property
    def where(self) -> str:
        p = self.doc.pos(self.prefix + ("name",))
        return f"{p.file}:{p.line}"


@dataclass
class FleetLoad:
    """The outcome of loading: the documents and entries read, and every problem found."""

    root: Path
    fleet_doc: Document | None = None
    documents: list[Document] = field(default_factory=list)
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    fleet: Any = None  # botfleet.config.model.Fleet when there are no errors
    effective: dict = field(default_factory=dict, repr=False)  # id(bot entry) -> Effective
    _names: dict = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return sorted(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> list[Problem]:
        return sorted(p for p in self.problems if p.severity != "error")

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ConfigError(self.errors)

    def defined(self, kind: str) -> set[str]:
        """Every name declared for `kind`, valid or not: a reference to an object that has
        errors of its own is not "unknown" (its own errors say what is wrong)."""
        return {e.name for e in self.entries.get(kind, []) if e.name}

    def by_name(self, kind: str) -> dict[str, Entry]:
        """Valid entries of `kind` by name (the first, where a name is defined twice)."""
        if kind not in self._names:
            out: dict[str, Entry] = {}
            for entry in self.entries.get(kind, []):
                if entry.valid and entry.name and entry.name not in out:
                    out[entry.name] = entry
            self._names[kind] = out
        return self._names[kind]


def _display(path: Path, display_root: Path) -> str:
    try:
        return os.path.relpath(path, display_root) if path.is_absolute() else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


class _Reader:
    def __init__(self, display_root: Path):
        self.display_root = display_root
        self.seen: dict[Path, Document | None] = {}
        self.problems: list[Problem] = []
        self.documents: list[Document] = []

    def read(self, path: Path) -> Document | None:
        path = path.absolute()
        key = path.resolve()
        if key in self.seen:
            return self.seen[key]
        doc = load_document(path, _display(path, self.display_root), self.problems)
        self.seen[key] = doc
        if doc is not None:
            self.documents.append(doc)
        return doc


def _check_kind(doc: Document, expected: str | None, problems: list[Problem]) -> str | None:
    """The file's declared kind; a problem when it is missing, unknown or not `expected`."""
    data = doc.data
    if not isinstance(data, dict):
        problems.append(doc.problem((), "expected a mapping with 'kind:' and 'version:' at the "
                                    "top of the file"))
        return None
    kind = data.get("kind")
    if kind is None:
        hint = f"add 'kind: {expected}'" if expected else f"one of: {', '.join(schemas.KINDS)}"
        problems.append(doc.problem((), "missing required key 'kind'", hint))
        return None
    if kind not in schemas.KINDS:
        problems.append(doc.problem(("kind",), f"unknown kind {kind!r}",
                                    did_you_mean(str(kind), schemas.KINDS) or
                                    f"one of: {', '.join(schemas.KINDS)}"))
        return None
    if expected and kind != expected:
        where = LIST_OF_KIND.get(expected, expected)
        problems.append(doc.problem(("kind",), f"this file is a {kind!r} but is listed under "
                                    f"'{where}'", f"list it under '{LIST_OF_KIND.get(kind)}'"
                                    if kind in LIST_OF_KIND else None))
        return None
    return kind


def _expand(entry_text: str, base: Path, fleet_doc: Document, path: tuple,
            problems: list[Problem]) -> list[Path]:
    pattern = entry_text if os.path.isabs(entry_text) else str(base / entry_text)
    if globlib.has_magic(entry_text):
        found = sorted(Path(p) for p in globlib.glob(pattern, recursive=True)
                       if not Path(p).is_dir())
        if not found:
            problems.append(fleet_doc.problem(path, f"'{entry_text}' matches no files",
                                              severity="warning"))
        return found
    return [Path(pattern)]


def _validate_entry(entry: Entry, problems: list[Problem]) -> None:
    found = schemas.problems_for(entry.doc, entry.kind, entry.data, entry.prefix)
    found += reference_problems(entry.doc, entry.data, entry.prefix)
    entry.valid = not any(p.severity == "error" for p in found)
    problems.extend(found)


def load_fleet(path: str | Path, *, display_root: str | Path | None = None) -> FleetLoad:
    """Load `fleet.yaml` (or the fleet file in a directory) and everything it lists."""
    from botfleet.config import crosscheck, model

    root = Path(path)
    if root.is_dir() and (root / "fleet.yaml").exists():
        root = root / "fleet.yaml"
    display_root = Path(display_root) if display_root else Path.cwd()
    reader = _Reader(display_root)
    load = FleetLoad(root=root)
    fleet_doc = reader.read(root)
    load.fleet_doc = fleet_doc
    if fleet_doc is not None:
        kind = _check_kind(fleet_doc, None, reader.problems)
        if kind and kind != "fleet":
            # a single file of another kind: check it on its own
            entry = Entry(kind, fleet_doc.data, fleet_doc)
            _validate_entry(entry, reader.problems)
            load.entries[kind] = [entry]
            if entry.valid:
                reader.problems.extend(crosscheck.check_alone(load))
            kind = None
        if kind == "fleet":
            _load_fleet_lists(load, fleet_doc, reader)
    load.documents = reader.documents
    load.problems = reader.problems
    if load.fleet_doc is not None and "fleet" in load.entries and load.entries["fleet"][0].valid:
        load.problems.extend(crosscheck.check(load))
        if load.ok:
            load.fleet = model.build_fleet(load)
    load.problems = sorted(set(load.problems))
    return load


def _load_fleet_lists(load: FleetLoad, fleet_doc: Document, reader: _Reader) -> None:
    data = fleet_doc.data
    top = {k: v for k, v in data.items() if k not in LISTS}
    fleet_entry = Entry("fleet", data, fleet_doc)
    found = schemas.problems_for(fleet_doc, "fleet", top)
    found += reference_problems(fleet_doc, top)
    for key in LISTS:  # shape of the lists themselves; items are checked one by one below
        value = data.get(key)
        if value is not None and not isinstance(value, list):
            found.append(fleet_doc.problem((key,), "expected a list of file paths, globs or "
                                           "inline definitions", f"write e.g. '{key}: "
                                           f"[{key}.d/*.yaml]'" if key != "risk_profiles"
                                           else "write e.g. 'risk_profiles: [risk.d/*.yaml]'"))
    fleet_entry.valid = not any(p.severity == "error" for p in found)
    reader.problems.extend(found)
    load.entries["fleet"] = [fleet_entry]
    base = fleet_doc.path.parent
    fleet_file = fleet_doc.path.resolve()
    for key, kind in LISTS.items():
        items = data.get(key)
        entries = load.entries.setdefault(kind, [])
        taken: set[int] = set()  # documents already listed under this key
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict):
                entry = Entry(kind, item, fleet_doc, (key, i))
                _validate_entry(entry, reader.problems)
                entries.append(entry)
                continue
            if not isinstance(item, str) or not item:
                reader.problems.append(fleet_doc.problem(
                    (key, i), "expected a file path, a glob or an inline definition"))
                continue
            for file in _expand(item, base, fleet_doc, (key, i), reader.problems):
                if file == fleet_doc.path or file.resolve() == fleet_file:
                    continue
                if file.is_dir():
                    reader.problems.append(fleet_doc.problem(
                        (key, i), f"'{item}' is a directory; expected a YAML file",
                        f"to load every file in it write '{item.rstrip('/')}/*.yaml'"))
                    continue
                before = len(reader.problems)
                doc = reader.read(file)
                if doc is None:
                    if len(reader.problems) == before:
                        continue  # read before (listed twice): already reported or loaded
                    p = reader.problems[-1]
                    if p.message == "file not found":  # say where it was listed
                        reader.problems[-1] = fleet_doc.problem(
                            (key, i), f"file not found: {p.file}")
                    continue
                if id(doc) in taken:
                    continue
                taken.add(id(doc))
                if _check_kind(doc, kind, reader.problems) != kind:
                    continue
                entry = Entry(kind, doc.data, doc)
                _validate_entry(entry, reader.problems)
                entries.append(entry)
