"""Located problems: the one shape every configuration mistake is reported in.

A user fixes a config by jumping to `file:line:col`, so every problem carries a position, the
JSON path of the value it concerns and, where we can say more, a hint. Problems are collected,
never raised one at a time, so that one run shows every mistake in every file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        if self.severity != "error":
            text = f"{text} [{self.severity}]"
        return text

    def as_dict(self) -> dict:
        return asdict(self)


class ConfigError(Exception):
    """Raised by APIs that need a valid configuration; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration")


def format_path(path: tuple) -> str:
    """Render a JSON path as `risk.limits[2].value`; the document root is `$`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known spelling, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def known_list(choices: Iterable[str], limit: int = 12) -> str:
    items = sorted(set(choices))
    shown = ", ".join(items[:limit])
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return shown + more
