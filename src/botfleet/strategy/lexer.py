"""Tokens of the expression language, with their offsets in the source text.

A hand-written lexer (not Python's tokenize) because the language has tokens Python lacks
(`3%`, `4h` after `@`) and must never hand user text to anything that could run it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from botfleet.strategy.errors import ExprError

MAX_LENGTH = 4000  # an expression longer than this is a mistake, not a strategy

KEYWORDS = {"and", "or", "not", "true", "false"}
OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", ",", ".", "@", "=")
_DIGITS = "0123456789"  # ASCII only: str.isdigit() also accepts '²' and other digits
_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIMEFRAME = re.compile(r"\d+[smhdwM]\b")
_MISTAKES = {
    "&&": "use 'and'", "||": "use 'or'", "&": "use 'and'", "|": "use 'or'", "!": "use 'not'",
    "**": "powers are not supported", "%": "'%' follows a number, as in 3%",
    "[": "use shift(x, n) for earlier values", "]": "use shift(x, n) for earlier values",
    "'": None, '"': None,
}


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "str", "tf", "op", "kw", "end"
    text: str
    start: int
    end: int
    value: object = None


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}",
                        MAX_LENGTH, len(text), "split it into named indicators")
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if out and out[-1].text == "@" and out[-1].kind == "op" and ch in _DIGITS:
            m = _TIMEFRAME.match(text, i) or re.compile(r"\w+").match(text, i)
            if m.re is not _TIMEFRAME:
                raise ExprError(f"'{m.group()}' is not a timeframe", i, m.end(),
                                "write a number and a unit: 15m, 4h, 1d, 1w, 1M")
            out.append(Token("tf", m.group(), i, m.end(), m.group()))
            i = m.end()
            continue
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _number(text, i, out)
            continue
        if m := _WORD.match(text, i):
            word = m.group()
            out.append(Token("kw" if word in KEYWORDS else "name", word, i, m.end(), word))
            i = m.end()
            continue
        if ch in "'\"":
            i = _string(text, i, out)
            continue
        op = next((o for o in OPERATORS if text.startswith(o, i)), None)
        two = text[i:i + 2]
        if two in _MISTAKES and (op is None or len(op) < 2):
            raise ExprError(f"unexpected '{two}'", i, i + 2, _MISTAKES[two])
        if op is None:
            shown = ch if ch.isprintable() else repr(ch)
            raise ExprError(f"unexpected character '{shown}'", i, i + 1, _MISTAKES.get(ch))
        out.append(Token("op", op, i, i + len(op)))
        i += len(op)
    out.append(Token("end", "", n, n))
    return out


def _number(text: str, i: int, out: list[Token]) -> int:
    m = _NUMBER.match(text, i)
    end = m.end()
    literal = m.group()
    value: float | int = float(literal)
    if not any(c in literal for c in ".eE") and abs(value) < 2**53:
        value = int(literal)
    if not math.isfinite(value):
        raise ExprError(f"number {literal[:20]}{'…' if len(literal) > 20 else ''} is too large",
                        i, end)
    if end < len(text) and text[end] == "%":
        out.append(Token("num", text[i:end + 1], i, end + 1, value / 100))
        return end + 1
    if end < len(text) and (text[end].isalpha() or text[end] == "_"):
        m = _WORD.match(text, end)
        word = m.group() if m else text[end]
        hint = "write '@ " + literal + word + "' after an expression to read another timeframe" \
            if word in ("s", "m", "h", "d", "w", "M") else None
        raise ExprError(f"'{literal}{word}' is not a number", i, end + len(word), hint)
    out.append(Token("num", literal, i, end, value))
    return end


def _string(text: str, i: int, out: list[Token]) -> int:
    quote = text[i]
    end = text.find(quote, i + 1)
    if end < 0:
        raise ExprError("unterminated string", i, len(text), f"close it with {quote}")
    body = text[i + 1:end]
    if not re.fullmatch(r"[A-Za-z0-9_\-]*", body):
        raise ExprError(f"string {quote}{body}{quote} may hold only letters, digits, '_' and "
                        "'-'", i, end + 1)
    out.append(Token("str", text[i:end + 1], i, end + 1, body))
    return end + 1
