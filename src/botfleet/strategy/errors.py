"""Errors of the expression language: each knows where in its expression it happened.

The compiler never raises anything else for bad user text (the fuzz test holds it to that);
the loader turns the offset into `file:line:col` through the YAML document's spans.
"""

from __future__ import annotations


class ExprError(Exception):
    def __init__(self, message: str, start: int = 0, end: int | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = start + 1 if end is None else end
        self.hint = hint

    def __str__(self) -> str:
        text = f"col {self.start + 1}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class StrategyError(Exception):
    """Every problem found in one strategy, each located (`config.problems.Problem`)."""

    def __init__(self, problems):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid strategy")
