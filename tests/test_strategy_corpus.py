"""The corpus of broken strategies: each case must fail exactly where its expected.txt says.

A case is a folder under tests/strategy_corpus/ holding `main.yaml` (a `kind: strategy` file)
and `expected.txt`, one line per expected error: `file:line:col: message fragment`, the file
relative to the case folder (`main.yaml:12:31: unknown indicator`). Expression errors must
point at the offending token inside the YAML value, whatever the scalar's style (plain,
quoted, folded `>`, literal `|`, inside a flow mapping). The set of error locations must match
exactly (several lines may name one location, each its own error), so a case also fails when
the compiler reports a spurious extra error, or the same error twice.

Optional files in a case folder:
- `timeframe.txt`: the bot's base timeframe (default 1h);
- `overrides.yaml`: parameter overrides, as a bot would give them;
- `XFAIL`: the case records a known compiler bug or unhelpful message (the file says which),
  and expected.txt holds what the compiler should report. It fails until the fix; a fix that
  reports what expected.txt says makes it pass, strict mode turns that into a failure, and
  the marker must then be removed (a fix worded differently needs expected.txt updated).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from botfleet.strategy.declarative import load_strategy
from botfleet.strategy.errors import StrategyError

from corpus_cases import assert_reported, expected

CORPUS = Path(__file__).parent / "strategy_corpus"
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir())


def _timeframe(case: Path) -> str:
    tf = case / "timeframe.txt"
    return tf.read_text(encoding="utf-8").strip() if tf.exists() else "1h"


def _overrides(case: Path) -> dict | None:
    path = case / "overrides.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def _param(case: Path):
    marks = []
    if (case / "XFAIL").exists():
        reason = (case / "XFAIL").read_text(encoding="utf-8").strip()
        marks.append(pytest.mark.xfail(reason=reason, strict=True))
    return pytest.param(case, id=case.name, marks=marks)


def test_strategy_corpus_is_large_enough():
    passing = [c for c in CASES if not (c / "XFAIL").exists()]
    assert len(passing) >= 35, len(passing)
    for case in CASES:
        assert (case / "main.yaml").is_file(), f"{case.name}: no main.yaml"
        assert expected(case), f"{case.name}: expected.txt lists no error"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_broken_strategy_reports_exact_locations(case: Path):
    with pytest.raises(StrategyError) as info:
        load_strategy(case / "main.yaml", _timeframe(case), _overrides(case), display_root=case)
    assert_reported(info.value.problems, case)
