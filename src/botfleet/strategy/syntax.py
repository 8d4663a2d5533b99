"""The expression tree and its parser (recursive descent, one function per precedence level).

Precedence, loosest first: `or`, `and`, `not`, comparisons (not chained), `+ -`, `* /`,
unary `-`, `@ timeframe`, then calls and `.output`. Every node keeps its source span so the
compiler can point at the exact sub-expression it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botfleet.strategy.errors import ExprError
from botfleet.strategy.lexer import Token, tokenize

MAX_DEPTH = 60  # nesting beyond this is refused before Python's own recursion limit


@dataclass(frozen=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True)
class Num(Node):
    value: float | int
    percent: bool = False


@dataclass(frozen=True)
class Str(Node):
    value: str


@dataclass(frozen=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Call(Node):
    name: str
    name_end: int
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node, int], ...] = field(default=())  # (name, value, name start)


@dataclass(frozen=True)
class Attr(Node):
    target: Node
    attr: str
    attr_start: int


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node


@dataclass(frozen=True)
class At(Node):
    expr: Node
    timeframe: str
    tf_start: int


COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "kw" and self.tok.text == word

    def expect(self, op: str, what: str) -> Token:
        if not self.is_op(op):
            raise self.unexpected(f"expected '{op}' {what}")
        return self.take()

    def unexpected(self, message: str | None = None) -> ExprError:
        tok = self.tok
        if tok.kind == "end":
            return ExprError(message or "the expression ends too early", tok.start, tok.end)
        shown = f"'{tok.text}'"
        return ExprError(f"{message}, found {shown}" if message else f"unexpected {shown}",
                         tok.start, tok.end)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("empty expression", 0, max(len(self.text), 1))
        node = self.or_()
        if self.tok.kind != "end":
            if self.is_op("="):
                raise ExprError("'=' assigns; compare with '=='", self.tok.start, self.tok.end)
            if self.is_op(")"):
                raise ExprError("unbalanced ')'", self.tok.start, self.tok.end)
            raise self.unexpected("expected an operator or the end of the expression")
        return node

    def nested(self, fn):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nests deeper than {MAX_DEPTH} levels", self.tok.start,
                            self.tok.end, "split it into named indicators")
        try:
            return fn()
        finally:
            self.depth -= 1

    def or_(self) -> Node:
        left = self.and_()
        while self.is_kw("or"):
            self.take()
            right = self.and_()
            left = Binary(left.start, right.end, "or", left, right)
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.is_kw("and"):
            self.take()
            right = self.not_()
            left = Binary(left.start, right.end, "and", left, right)
        return left

    def not_(self) -> Node:
        if self.is_kw("not"):
            tok = self.take()
            operand = self.nested(self.not_)
            return Unary(tok.start, operand.end, "not", operand)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum_()
        if self.is_op(*COMPARISONS):
            op = self.take().text
            right = self.sum_()
            if self.is_op(*COMPARISONS):
                raise ExprError("comparisons do not chain", self.tok.start, self.tok.end,
                                "write 'a < b and b < c'")
            return Binary(left.start, right.end, op, left, right)
        return left

    def sum_(self) -> Node:
        left = self.term()
        while self.is_op("+", "-"):
            op = self.take().text
            right = self.term()
            left = Binary(left.start, right.end, op, left, right)
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.is_op("*", "/"):
            op = self.take().text
            right = self.unary()
            left = Binary(left.start, right.end, op, left, right)
        return left

    def unary(self) -> Node:
        if self.is_op("-", "+"):
            tok = self.take()
            operand = self.nested(self.unary)
            return operand if tok.text == "+" else Unary(tok.start, operand.end, "-", operand)
        return self.at()

    def at(self) -> Node:
        node = self.postfix()
        if self.is_op("@"):
            self.take()
            if self.tok.kind != "tf":
                raise self.unexpected("expected a timeframe such as 4h or 1d after '@'")
            tf = self.take()
            node = At(node.start, tf.end, node, tf.text, tf.start)
            if self.is_op("@"):
                raise ExprError("one '@ timeframe' per expression", self.tok.start, self.tok.end)
        return node

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.is_op("("):
                if not isinstance(node, Name):
                    raise ExprError("only a function name can be called", self.tok.start,
                                    self.tok.end)
                node = self.nested(lambda n=node: self.call(n))
            elif self.is_op("."):
                self.take()
                if self.tok.kind != "name":
                    raise self.unexpected("expected an output name after '.'")
                attr = self.take()
                node = Attr(node.start, attr.end, node, attr.text, attr.start)
            else:
                return node

    def call(self, fn: Name) -> Call:
        self.take()  # "("
        args: list[Node] = []
        kwargs: list[tuple[str, Node, int]] = []
        while not self.is_op(")"):
            if self.tok.kind == "end":
                raise ExprError(f"'(' of {fn.name}( is never closed", fn.end, fn.end + 1)
            if self.tok.kind == "name" and self.tokens[self.i + 1].text == "=" \
                    and self.tokens[self.i + 1].kind == "op":
                key = self.take()
                self.take()
                if any(k == key.text for k, _, _ in kwargs):
                    raise ExprError(f"argument '{key.text}' given twice", key.start, key.end)
                kwargs.append((key.text, self.or_(), key.start))
            else:
                if kwargs:
                    raise ExprError("a positional argument after a named one", self.tok.start,
                                    self.tok.end, "put named arguments last")
                args.append(self.or_())
            if self.is_op(","):
                self.take()
            elif self.tok.kind == "end":
                raise ExprError(f"'(' of {fn.name}( is never closed", fn.end, fn.end + 1)
            elif not self.is_op(")"):
                raise self.unexpected(f"expected ',' or ')' in the arguments of {fn.name}(")
        close = self.take()
        return Call(fn.start, close.end, fn.name, fn.end, tuple(args), tuple(kwargs))

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            return Num(tok.start, tok.end, tok.value, tok.text.endswith("%"))
        if tok.kind == "str":
            self.take()
            return Str(tok.start, tok.end, tok.value)
        if tok.kind == "name":
            self.take()
            return Name(tok.start, tok.end, tok.text)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            self.take()
            return Bool(tok.start, tok.end, tok.text == "true")
        if self.is_op("("):
            self.take()
            inner = self.nested(self.or_)
            if not self.is_op(")"):
                if self.tok.kind == "end":
                    raise ExprError("'(' is never closed", tok.start, tok.end)
                raise self.unexpected("expected ')'")
            self.take()
            return inner
        if tok.kind == "kw":
            raise ExprError(f"'{tok.text}' needs an expression before it", tok.start, tok.end)
        raise self.unexpected("expected a value, a name or '('")


def parse(text: str) -> Node:
    """Parse one expression; raises ExprError (only) on bad input."""
    return _Parser(text).parse()
