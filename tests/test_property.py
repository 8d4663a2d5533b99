"""Property: whatever YAML a user writes, the validator answers; it never raises.

Every answer is either "valid" or a list of problems, each located at a real file, at a line
and column inside that file.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botfleet.config import load_fleet

from conftest import ROOT

EXAMPLE = [ROOT / "fleet.yaml", *sorted(ROOT.glob("*.d/*.yaml"))]
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _fleet_copy() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="bf-prop-"))
    for src in EXAMPLE:
        dst = tmp / src.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return tmp


def _check_answer(root: Path) -> None:
    try:
        load = load_fleet(root / "fleet.yaml", display_root=root)
        files = {str(p.relative_to(root)) for p in root.rglob("*.yaml")}
        for problem in load.problems:
            assert problem.file in files, problem
            path = root / problem.file
            raw = path.read_bytes()
            try:  # YAML also breaks lines at U+0085/U+2028, as str.splitlines does
                n_lines = len(raw.decode("utf-8").splitlines()) + 1
            except UnicodeDecodeError:
                n_lines = len(raw.splitlines()) + 1
            assert 1 <= problem.line <= n_lines, problem
            assert problem.col >= 1 and problem.message, problem
        assert load.ok == (not load.errors)
        assert (load.fleet is not None) == load.ok
    finally:
        shutil.rmtree(root, ignore_errors=True)


_token = st.sampled_from([
    ":", "-", "[", "]", "{", "}", "&a", "*a", "!include x.yaml", "'", '"', "#", "\t", "  ", "%",
    "${env:X}", "${", "yes", "~", "0x1G", ".nan", "-.inf", "1e999", "<<: *a", "---", "?", "|",
    "kind: bot", "version: 2", "name: a", "\x00", "é", "\ufeff"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=20))
_data = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


@SETTINGS
@given(st.sampled_from(EXAMPLE), st.data())
def test_mutated_example_files_always_get_an_answer(target, data):
    root = _fleet_copy()
    path = root / target.relative_to(ROOT)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, max(0, len(lines) - 1)))
        op = data.draw(st.sampled_from(["delete", "dup", "insert", "indent", "cut"]))
        if not lines:
            lines = [""]
        if op == "delete":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "insert":
            col = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:col] + data.draw(_token) + lines[i][col:]
        elif op == "indent":
            lines[i] = data.draw(st.sampled_from(["  ", " ", "\t", "    "])) + lines[i]
        else:
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))] + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    _check_answer(root)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_a_bot_file_get_an_answer(raw):
    root = _fleet_copy()
    (root / "bots.d" / "random.yaml").write_bytes(raw)
    _check_answer(root)


@SETTINGS
@given(_data, st.sampled_from(["bot", "strategy", "exchange", "notifier", "risk", None]))
def test_random_structures_under_a_kind_get_an_answer(body, kind):
    root = _fleet_copy()
    doc = {"kind": kind, "version": 1, "body": body} if kind else body
    if isinstance(body, dict) and kind:
        doc = {"kind": kind, "version": 1, **body}
    folder = {"bot": "bots.d", "strategy": "strategies.d", "exchange": "exchanges.d",
              "notifier": "notifiers.d", "risk": "risk.d"}.get(kind, "bots.d")
    (root / folder / "random.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                              encoding="utf-8")
    _check_answer(root)
