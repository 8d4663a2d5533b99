"""Shared by the two corpora of broken files (tests/corpus, tests/strategy_corpus): each case's
expected.txt lists one expected error per line, `file:line:col: message fragment`, and the
errors reported must match it exactly: no location missing, none extra, none repeated."""

from __future__ import annotations

from pathlib import Path


def expected(case: Path) -> list[tuple[str, str]]:
    out = []
    for line in (case / "expected.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        file, row, col, fragment = line.split(":", 3)
        out.append((f"{file}:{row}:{col}", fragment.strip()))
    return out


def assert_reported(problems, case: Path) -> None:
    report = "\n".join(str(p) for p in problems)
    got: dict[str, list[str]] = {}
    for p in problems:
        got.setdefault(f"{p.file}:{p.line}:{p.col}", []).append(str(p))
    want: dict[str, list[str]] = {}
    for location, fragment in expected(case):
        want.setdefault(location, []).append(fragment)
    assert want, f"{case.name}: expected.txt lists no error"
    for location, fragments in want.items():
        assert location in got, f"no error at {location}; got:\n{report}"
        messages = list(got[location])
        for fragment in fragments:
            match = next((m for m in messages if fragment in m), None)
            assert match is not None, f"at {location}: no error with {fragment!r} in {messages}"
            messages.remove(match)
        assert not messages, f"at {location}, unexpected further errors: {messages}"
    assert set(got) == set(want), f"unexpected errors:\n{report}"
