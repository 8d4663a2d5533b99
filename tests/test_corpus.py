"""The corpus of invalid configurations: each case must fail exactly where its expected.txt says.

A case is a folder under tests/corpus/ holding a `fleet.yaml` (or a single `main.yaml` checked on
its own) and `expected.txt`, one line per expected error: `file:line:col: message fragment`.
The set of error locations must match exactly, so a case also fails when the validator reports
a spurious extra error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from botfleet.config import load_fleet

from corpus_cases import assert_reported

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir())


def _entry(case: Path) -> Path:
    return case / "fleet.yaml" if (case / "fleet.yaml").exists() else case / "main.yaml"


def test_corpus_is_large_enough():
    cross = [c for c in CASES if (c / "CROSS").exists()]
    assert len(CASES) >= 40, len(CASES)
    assert len(cross) >= 10, len(cross)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_config_reports_exact_location(case: Path):
    load = load_fleet(_entry(case), display_root=case)
    assert_reported(load.errors, case)
    assert not load.ok and load.fleet is None
