"""The YAML reader: positions, YAML 1.2 scalars, and one located problem per broken file."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from botfleet.config.yamlfile import MAX_FILE_BYTES, load_document, parse_document


def parse(text: str, tmp_path: Path | None = None):
    problems = []
    doc = parse_document(text, Path(tmp_path or ".") / "x.yaml", "x.yaml", problems)
    return doc, problems


def test_positions_of_keys_and_values_are_one_based():
    doc, problems = parse("a: 1\nb:\n  c: [x, y]\n")
    assert not problems
    assert doc.pos(("b", "c", 1)) == doc.values[("b", "c", 1)]
    assert (doc.values[("b", "c", 1)].line, doc.values[("b", "c", 1)].col) == (3, 10)
    assert (doc.keys[("b", "c")].line, doc.keys[("b", "c")].col) == (3, 3)
    # an unknown deeper path falls back to its nearest known ancestor
    assert doc.pos(("b", "c", 7, "z")) == doc.values[("b", "c")]


def test_yaml_12_scalars_do_not_turn_words_into_booleans_or_times():
    doc, _ = parse("a: yes\nb: on\nc: 8:00\nd: 2024-01-01\ne: true\nf: 0.1\ng: ~\nh: 0x1f\n")
    assert doc.data == {"a": "yes", "b": "on", "c": "8:00", "d": "2024-01-01", "e": True,
                        "f": Decimal("0.1"), "g": None, "h": 31}
    assert isinstance(doc.data["f"], Decimal)  # money never passes through a binary float


@pytest.mark.parametrize("text, fragment, line, col", [
    ("a: 1\na: 2\n", "duplicate key 'a' (first defined at line 1)", 2, 1),
    ("a:\n\t- b\n", "tab character", 2, 1),
    ("a: [1, 2\n", "YAML syntax error", 2, 1),
    ("", "file is empty", 1, 1),
    ("# only a comment\n", "file is empty", 1, 1),
    ("a: 1\n---\nb: 2\n", "holds 2 YAML documents", 2, 1),
    ("a: !!python/object:os.system x\n", "unsupported YAML tag", 1, 4),
    ("a: &x [*x]\n", "recursive alias", 1, 4),
    ("? [a, b]\n: 1\n", "mapping key must be a plain value", 1, 3),
])
def test_broken_yaml_gives_one_located_problem(text, fragment, line, col):
    _, problems = parse(text)
    assert problems, text
    assert fragment in str(problems[0])
    assert (problems[0].line, problems[0].col) == (line, col), str(problems[0])


def test_billion_laughs_is_refused_not_expanded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    _, problems = parse("\n".join(lines) + "\n")
    assert any("more than" in p.message and "aliases" in (p.hint or "") for p in problems)


def test_merge_keys_and_anchors_keep_positions_of_the_source():
    doc, problems = parse("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert not problems
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert doc.values[("other", "x")].line == 1  # where x was actually written


@pytest.mark.parametrize("raw, fragment", [
    (b"a: caf\xe9\n", "not valid UTF-8 (byte 0xe9)"),
    (b"\xff\xfea\x00:\x00", "UTF-16"),
    (b"a: 1\x00\n", "NUL bytes"),
])
def test_wrong_encodings(tmp_path, raw, fragment):
    (tmp_path / "x.yaml").write_bytes(raw)
    problems = []
    assert load_document(tmp_path / "x.yaml", "x.yaml", problems) is None
    assert fragment in problems[0].message


def test_utf8_bom_is_accepted(tmp_path):
    (tmp_path / "x.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    problems = []
    assert load_document(tmp_path / "x.yaml", "x.yaml", problems).data == {"a": 1}


def test_directory_missing_and_huge_files(tmp_path):
    problems = []
    (tmp_path / "d.yaml").mkdir()
    assert load_document(tmp_path / "d.yaml", "d.yaml", problems) is None
    assert load_document(tmp_path / "none.yaml", "none.yaml", problems) is None
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:  # sparse: 50 MB on paper, nothing on disk
        fh.truncate(50 * 1024 * 1024)
    assert load_document(big, "big.yaml", problems) is None
    messages = [p.message for p in problems]
    assert messages[0] == "is a directory; expected a YAML file"
    assert messages[1] == "file not found"
    assert messages[2].startswith("file is 52.4 MB") and "at most 5 MB" in messages[2]
    assert MAX_FILE_BYTES == 5 * 1024 * 1024


def test_include_splices_data_and_positions_of_the_other_file(write, tmp_path):
    write("main.yaml", "a: !include part.yaml\n")
    write("part.yaml", "x: 1\ny: [2, 3]\n")
    problems = []
    doc = load_document(tmp_path / "main.yaml", "main.yaml", problems)
    assert not problems
    assert doc.data == {"a": {"x": 1, "y": [2, 3]}}
    pos = doc.pos(("a", "y", 1))
    assert (pos.file, pos.line, pos.col) == ("part.yaml", 2, 8)


def test_include_cycle_and_missing_include(write, tmp_path):
    write("a.yaml", "x: !include b.yaml\n")
    write("b.yaml", "y: !include a.yaml\nz: !include none.yaml\n")
    problems = []
    load_document(tmp_path / "a.yaml", "a.yaml", problems)
    text = "\n".join(map(str, problems))
    assert "b.yaml:1:4: y: !include cycle: 'a.yaml' includes itself" in text
    assert "b.yaml:2:4: z: file not found: none.yaml (named by !include)" in text


_plain = st.text(alphabet="0123456789.+-eEinfINFaltrueTRUEfalsenuoxbyYNo_~:", min_size=1,
                 max_size=8)


@settings(max_examples=400, deadline=None)
@given(_plain)
def test_plain_scalars_resolve_as_yaml_12_like_ruamel(word):
    """Our YAML 1.2 core-schema resolution agrees with ruamel.yaml's (an independent parser)."""
    if "_" in word or word.lower().startswith(("0b", "+0b", "-0b")):
        return  # ruamel's extensions beyond the 1.2 core schema (1_000, 0b101); we keep text
    text = f"k: {word}\n"
    try:
        theirs = YAML(typ="safe", pure=True).load(text)
    except Exception:  # noqa: BLE001 - not a plain scalar document; nothing to compare
        return
    if not isinstance(theirs, dict) or "k" not in theirs:
        return
    doc, problems = parse(text)
    if problems or not isinstance(doc.data, dict):
        return
    ours, ref = doc.data["k"], theirs["k"]
    if isinstance(ref, float):
        if math.isnan(ref):  # ruamel reads .nan as NaN; we keep it as text and the schema refuses it
            assert ours == word
        else:
            assert isinstance(ours, Decimal) and float(ours) == ref
    elif isinstance(ref, bool) or ref is None:
        assert ours is ref
    elif isinstance(ref, int):
        assert ours == ref and not isinstance(ours, bool)
    else:
        assert ours == str(ref) or ours == word
