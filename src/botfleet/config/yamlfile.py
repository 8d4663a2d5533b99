"""Reading one YAML file into plain data plus the position of every key and value.

Why our own reader on top of PyYAML's composer (libyaml when available):
- every key and value keeps its `file:line:col`, so a schema error deep in a file points at it;
- YAML 1.2 scalars: `yes`, `on`, `8:00` and `2024-01-01` stay strings instead of silently turning
  into booleans, sexagesimal integers or dates as YAML 1.1 would make them;
- decimal numbers become `Decimal` (exact money), never binary floats;
- duplicate keys, tabs, non-UTF-8 bytes, empty files, directories, huge files, several documents
  in one file, recursive or exploding aliases: each becomes one located problem, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from botfleet.config.problems import Problem, format_path

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_IMPLICIT_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:value",
}
INCLUDE_TAG = "!include"
# Text to read instead of a file's (resolved path -> text): the UI's editor checks an unsaved
# edit in the context of the whole fleet (`config.edit.check_edit`) without writing it.
OVERRIDES: ContextVar[dict[Path, str] | None] = ContextVar("yaml_overrides", default=None)


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    col: int


@dataclass(frozen=True)
class Span:
    """Where a string value's text sits in its file: lets errors point inside the value
    (a strategy expression's unknown name at its own column, not at the value's start)."""

    file: str
    line: int
    col: int
    raw: str  # the scalar as written: quotes, escapes, line breaks, indentation
    style: str | None  # None (plain), "'", '"', "|" or ">"

    def pos(self, offset: int, value: str) -> Pos:
        """The file position of `value[offset]`, aligning the value with its raw text."""
        raw, i = self.raw, 0
        if self.style in ("'", '"'):
            i = 1
        elif self.style in ("|", ">"):
            i = raw.find("\n") + 1
        j = 0
        while j < min(offset, len(value)) and i < len(raw):
            if raw[i] == value[j]:
                i, j = i + 1, j + 1
            elif (self.style == "'" and raw.startswith("''", i) and value[j] == "'") or \
                    (self.style == '"' and raw[i] == "\\"):  # an escaped character
                i, j = i + 2, j + 1
            else:  # indentation, a folded line break, a closing quote
                i += 1
        while i < len(raw) and raw[i] in " \n" and j < len(value) and value[j] not in " \n":
            i += 1
        before = raw[:i]
        line = self.line + before.count("\n")
        col = (i - before.rfind("\n")) if "\n" in before else self.col + i
        return Pos(self.file, line, col)


@dataclass
class Document:
    """One YAML file as plain data, with positions keyed by JSON path tuples."""

    file: str
    path: Path
    data: Any
    values: dict[tuple, Pos] = field(default_factory=dict)
    keys: dict[tuple, Pos] = field(default_factory=dict)
    broken: set[tuple] = field(default_factory=set)  # paths whose `!include` failed
    spans: dict[tuple, Span] = field(default_factory=dict)  # string values only

    def pos(self, path: tuple, *, key: bool = False) -> Pos:
        """Position of the key (or value) at `path`, else of its nearest known ancestor."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return Pos(self.file, 1, 1)
            path = path[:-1]

    def pos_in(self, path: tuple, offset: int) -> Pos:
        """Position of character `offset` of the string value at `path`."""
        span = self.spans.get(tuple(path))
        value = self.get(path)
        if span is None or not isinstance(value, str):
            return self.pos(path)
        return span.pos(offset, value)

    def get(self, path: tuple) -> Any:
        node = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def problem(self, path: tuple, message: str, hint: str | None = None, *, key: bool = False,
                severity: str = "error") -> Problem:
        p = self.pos(path, key=key)
        return Problem(p.file, p.line, p.col, format_path(path), message, hint, severity)


def _file_problem(display: str, message: str, hint: str | None = None, line: int = 1,
                  col: int = 1) -> Problem:
    return Problem(display, line, col, "$", message, hint)


def _decode(raw: bytes, display: str) -> tuple[str | None, Problem | None]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, _file_problem(display, "file is UTF-16 encoded", "save it as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        return None, _file_problem(display, "file holds NUL bytes: this is not a YAML text file")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        return None, _file_problem(
            display, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save it as UTF-8", line, col)


def read_text(path: Path, display: str) -> tuple[str | None, Problem | None]:
    """The file's text, or the one problem that stops us reading it."""
    overrides = OVERRIDES.get()
    if overrides and path.resolve() in overrides:
        return overrides[path.resolve()], None
    try:
        if path.is_dir():
            return None, _file_problem(display, "is a directory; expected a YAML file")
        size = path.stat().st_size
    except FileNotFoundError:
        return None, _file_problem(display, "file not found")
    except OSError as exc:
        return None, _file_problem(display, f"cannot read file: {exc.strerror or exc}")
    if size > MAX_FILE_BYTES:
        return None, _file_problem(
            display, f"file is {size / 1e6:.1f} MB; a configuration file may be at most "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MB", "split it, or check that it is the right file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, _file_problem(display, f"cannot read file: {exc.strerror or exc}")
    return _decode(raw, display)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, display: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    lines = text.splitlines()
    ch = lines[line - 1][col - 1: col] if 0 < line <= len(lines) else ""
    if ch == "\t" or (exc.problem and "\\t" in exc.problem):
        return _file_problem(display, "YAML syntax error: tab character",
                             "indent with spaces; YAML does not allow tabs", line, col)
    what = " ".join(s for s in (exc.problem, exc.context and f"({exc.context})") if s)
    return _file_problem(display, f"YAML syntax error: {what or exc}", None, line, col)


class _Builder:
    """Turns composed nodes into data and positions, collecting problems as it goes."""

    def __init__(self, display: str, path: Path, problems: list[Problem],
                 include: Callable[[str, Path, Pos, tuple], Document | None] | None):
        self.display = display
        self.path = path
        self.problems = problems
        self.include = include
        self.values: dict[tuple, Pos] = {}
        self.keys: dict[tuple, Pos] = {}
        self.broken: set[tuple] = set()
        self.spans: dict[tuple, Span] = {}
        self.text = ""  # the source, set by parse_document
        self.count = 0
        self.active: set[int] = set()
        self.aborted = False

    def pos(self, node: yaml.Node) -> Pos:
        return Pos(self.display, node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(self, node: yaml.Node, path: tuple, message: str, hint: str | None = None) -> None:
        p = self.pos(node)
        self.problems.append(Problem(p.file, p.line, p.col, format_path(path), message, hint))

    def build(self, node: yaml.Node, path: tuple, depth: int = 0) -> Any:
        if self.aborted:
            return None
        self.count += 1
        if self.count > MAX_NODES:
            self.fail(node, path, f"document expands to more than {MAX_NODES} values",
                      "check for aliases that multiply (a 'billion laughs' document)")
            self.aborted = True
            return None
        if depth > MAX_DEPTH:
            self.fail(node, path, f"nesting deeper than {MAX_DEPTH} levels")
            self.aborted = True
            return None
        self.values[path] = self.pos(node)
        if node.tag == INCLUDE_TAG:
            return self._include(node, path)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.active:
            self.fail(node, path, "recursive alias: a node contains itself")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, path, "tag:yaml.org,2002:seq")
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            self._check_tag(node, path, "tag:yaml.org,2002:map")
            return self._mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def _check_tag(self, node: yaml.Node, path: tuple, expected: str) -> None:
        if node.tag not in (expected, "tag:yaml.org,2002:omap"):
            self._bad_tag(node, path)

    def _bad_tag(self, node: yaml.Node, path: tuple) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self.fail(node, path, f"unsupported YAML tag '{tag}'",
                  f"the only tag botfleet knows is {INCLUDE_TAG}")

    def _scalar(self, node: yaml.ScalarNode, path: tuple) -> Any:
        value = self._scalar_value(node, path)
        if isinstance(value, str):
            start, end = node.start_mark, node.end_mark
            raw = self.text[start.index:end.index] if self.text else value
            self.spans[path] = Span(self.display, start.line + 1, start.column + 1, raw,
                                    node.style or None)
        return value

    def _scalar_value(self, node: yaml.ScalarNode, path: tuple) -> Any:
        text = node.value
        if node.tag not in _IMPLICIT_TAGS:
            self._bad_tag(node, path)
            return text
        if node.style:  # quoted or block scalar: always a string
            return text
        if _NULL.match(text):
            return None
        if text in _BOOL:
            return _BOOL[text]
        if _INT.match(text):
            return int(text)
        if _INT_OCT.match(text):
            return int(text, 8)
        if _INT_HEX.match(text):
            return int(text, 16)
        if _FLOAT.match(text):
            return Decimal(text)
        if _INF.match(text):
            return Decimal("-Infinity" if text.startswith("-") else "Infinity")
        return text

    def _key(self, node: yaml.Node, path: tuple) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, "a mapping key must be a plain value, not a list or mapping")
            return None
        return node.value

    def _mapping(self, node: yaml.MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            child = path + (key,)
            if key in first_seen:
                first = first_seen[key].start_mark.line + 1
                self.fail(key_node, child, f"duplicate key '{key}' (first defined at line {first})",
                          "remove one of them; YAML keeps only one value per key")
                continue
            first_seen[key] = key_node
            self.keys[child] = self.pos(key_node)
            out[key] = self.build(value_node, child, depth + 1)
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.fail(source, path, "'<<' merges only mappings")
                    continue
                merged = self._mapping(source, path, depth + 1)
                for key, value in merged.items():
                    out.setdefault(key, value)
        return out

    def _include(self, node: yaml.Node, path: tuple) -> Any:
        if not isinstance(node, yaml.ScalarNode) or not node.value:
            self.fail(node, path, f"{INCLUDE_TAG} takes a file path")
            return None
        if self.include is None:
            self.fail(node, path, f"{INCLUDE_TAG} is not allowed here")
            return None
        doc = self.include(node.value, self.path.parent / node.value, self.pos(node), path)
        if doc is None:
            self.broken.add(path)
            return None
        self.broken |= {path + b for b in doc.broken}
        for sub, pos in doc.values.items():
            self.values[path + sub] = pos
        for sub, pos in doc.keys.items():
            self.keys[path + sub] = pos
        for sub, span in doc.spans.items():
            self.spans[path + sub] = span
        return doc.data


def load_document(path: Path, display: str, problems: list[Problem], *,
                  _stack: tuple[Path, ...] = ()) -> Document | None:
    """Read and build one file; on failure append problems and return None."""
    text, problem = read_text(path, display)
    if problem:
        problems.append(problem)
        return None
    return parse_document(text, path, display, problems, _stack=_stack)


def parse_document(text: str, path: Path, display: str, problems: list[Problem], *,
                   _stack: tuple[Path, ...] = ()) -> Document | None:
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(exc, text, display))
        return None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        problems.append(_file_problem(display, f"YAML syntax error: {exc}"))
        return None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        problems.append(_file_problem(display, "file is empty", "a botfleet file starts with "
                                      "'kind:' and 'version:'"))
        return None
    if len(nodes) > 1:
        line = nodes[1].start_mark.line + 1
        starts = [i + 1 for i, t in enumerate(text.splitlines()[:line]) if t.startswith("---")]
        problems.append(_file_problem(display, f"file holds {len(nodes)} YAML documents; "
                                      "botfleet reads one per file", "split it into several files",
                                      starts[-1] if starts else line, 1))
        return None

    def include(rel: str, target: Path, at: Pos, where: tuple) -> Document | None:
        resolved = target.resolve()
        if resolved in _stack or resolved == path.resolve():
            problems.append(Problem(at.file, at.line, at.col, format_path(where),
                                    f"{INCLUDE_TAG} cycle: '{rel}' includes itself"))
            return None
        shown = str(Path(display).parent / rel) if display else rel
        if target.is_dir() or not target.exists():
            what = "is a directory, not a YAML file" if target.is_dir() else "file not found"
            problems.append(Problem(at.file, at.line, at.col, format_path(where),
                                    f"{what}: {rel}", f"named by {INCLUDE_TAG}"))
            return None
        before = len(problems)
        doc = load_document(target, shown, problems, _stack=_stack + (path.resolve(),))
        if doc is None and len(problems) == before:
            problems.append(Problem(at.file, at.line, at.col, format_path(where),
                                    f"cannot include '{rel}'"))
        return doc

    builder = _Builder(display, path, problems, include)
    builder.text = text
    try:
        data = builder.build(nodes[0], ())
    except RecursionError:
        problems.append(_file_problem(display, "document is nested too deeply"))
        return None
    return Document(display, path, data, builder.values, builder.keys, builder.broken,
                    builder.spans)
