"""A recursive-descent parser for rules (grammar in docs/pipelines.md); never `eval`.

Input is bounded (`MAX_RULE_LENGTH` characters, `MAX_DEPTH` levels of nesting), so parsing is
linear and cannot exhaust the stack. Errors are INVALID_PIPELINE with the rule's index, the column
(1-based character offset) and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from berth.runtime.pipeline.rules.functions import FUNCTIONS
from berth.runtime.pipeline.rules.syntax import (
    Assignment,
    Call,
    Compare,
    Expr,
    Field,
    ListOf,
    Literal,
    Logical,
    Rule,
    Scope,
    Unary,
)
from berth.runtime.pipeline.rules.tokens import Kind, Token, syntax_error, tokenize

MAX_RULE_LENGTH: Final = 2000
MAX_DEPTH: Final = 32
MAX_LIST_ITEMS: Final = 256

KEYWORDS: Final = frozenset(
    {"if", "then", "else", "and", "or", "not", "in", "is", "null", "true", "false"}
    | {"contains", "startswith", "endswith", "input", "output"}
)
_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">=", "contains", "startswith", "endswith"})
_LITERALS: Final = {"true": True, "false": False, "null": None}


def parse_rule(text: str, index: int) -> Rule:
    """The rule `text` (the `index`-th of its step, for messages)."""
    if len(text) > MAX_RULE_LENGTH:
        raise syntax_error(index, MAX_RULE_LENGTH, f"a rule may have at most {MAX_RULE_LENGTH} characters")
    return _Parser(tokenize(text, index), index).rule(text)


class _Parser:
    def __init__(self, tokens: list[Token], index: int) -> None:
        self._tokens = tokens
        self._at = 0
        self._index = index
        self._depth = 0

    # --- tokens
    @property
    def _token(self) -> Token:
        return self._tokens[self._at]

    def _is(self, text: str) -> bool:
        token = self._token
        return token.kind in (Kind.NAME, Kind.SYMBOL) and token.text == text

    def _take(self) -> Token:
        token = self._token
        if token.kind is not Kind.END:
            self._at += 1
        return token

    def _accept(self, text: str) -> bool:
        if self._is(text):
            self._at += 1
            return True
        return False

    def _expect(self, text: str, what: str | None = None) -> None:
        if not self._accept(text):
            raise self._error(what or repr(text))

    def _error(self, expected: str) -> Exception:
        return syntax_error(
            self._index, self._token.offset, f"expected {expected}, found {self._token.show()}"
        )

    @contextmanager
    def _nested(self, token: Token) -> Iterator[None]:
        """One more level of nesting while parsing an operand (at most `MAX_DEPTH`)."""
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise syntax_error(self._index, token.offset, f"nested more than {MAX_DEPTH} levels")
        try:
            yield
        finally:
            self._depth -= 1

    # --- rules
    def rule(self, text: str) -> Rule:
        self._expect("if", "'if' at the start of the rule")
        condition = self._expr()
        if self._is("="):
            raise self._error("'then' or an operator ('==' compares, '=' assigns after 'then')")
        self._expect("then", "'then' or an operator")
        then = self._assignments()
        otherwise = self._assignments() if self._accept("else") else ()
        if self._token.kind is not Kind.END:
            raise self._error("',' and another assignment, 'else' or the end of the rule")
        return Rule(text, condition, then, otherwise)

    def _assignments(self) -> tuple[Assignment, ...]:
        assignments = [self._assignment()]
        while self._accept(","):
            assignments.append(self._assignment())
        return tuple(assignments)

    def _assignment(self) -> Assignment:
        token = self._token
        if self._is("input"):
            raise syntax_error(self._index, token.offset, "rules assign outputs only, not input fields")
        if self._accept("output"):
            self._expect(".", "'.' after 'output'")
            token = self._token
        if token.kind is not Kind.NAME or (token.text in KEYWORDS and self._tokens[self._at - 1].text != "."):
            raise self._error("the name of an output field to assign")
        self._take()
        self._expect("=", "'=' after the field name")
        return Assignment(token.text, self._expr())

    # --- expressions, by increasing precedence
    def _expr(self) -> Expr:
        return self._logical("or", self._and)

    def _and(self) -> Expr:
        return self._logical("and", self._not)

    def _logical(self, op: str, operand: Callable[[], Expr]) -> Expr:
        operands = [operand()]
        while self._accept(op):
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Logical(op, tuple(operands))

    def _not(self) -> Expr:
        if self._is("not"):
            with self._nested(self._take()):
                return Unary("not", self._not())
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._unary()
        token = self._token
        if token.text in _COMPARISONS and token.kind in (Kind.NAME, Kind.SYMBOL):
            self._take()
            return Compare(token.text, left, self._unary())
        if self._accept("in"):
            return Compare("in", left, self._unary())
        if self._is("not"):
            self._take()
            self._expect("in", "'in' after 'not'")
            return Compare("not in", left, self._unary())
        if self._accept("is"):
            negated = self._accept("not")
            self._expect("null", "'null' after 'is'" if not negated else "'null' after 'is not'")
            return Compare("is not null" if negated else "is null", left, Literal(None))
        return left

    def _unary(self) -> Expr:
        if self._is("-"):
            with self._nested(self._take()):
                operand = self._unary()
            if (
                isinstance(operand, Literal)
                and isinstance(operand.value, int | float)
                and operand.value is not True
            ):
                return Literal(-operand.value)
            return Unary("-", operand)
        return self._primary()

    def _primary(self) -> Expr:
        token = self._token
        if token.kind in (Kind.NUMBER, Kind.STRING):
            self._take()
            return Literal(token.value)
        if token.kind is Kind.SYMBOL and token.text in ("(", "["):
            with self._nested(self._take()):
                if token.text == "(":
                    inner = self._expr()
                    self._expect(")", "')' or an operator")
                    return inner
                return ListOf(self._items("]", token))
        if token.kind is Kind.NAME:
            return self._named(self._take())
        raise self._error("a value (a number, a \"string\", true, false, null, a field, a function or '(')")

    def _named(self, token: Token) -> Expr:
        name = token.text
        if name in _LITERALS:
            return Literal(_LITERALS[name])
        if name in ("input", "output"):
            self._expect(".", f"'.' and a field name after {name!r}")
            field = self._token
            if field.kind is not Kind.NAME:
                raise self._error(f"a field name after '{name}.'")
            self._take()
            return Field(Scope(name), field.text)
        if name in KEYWORDS:
            raise syntax_error(self._index, token.offset, f"expected a value, found keyword {name!r}")
        if self._is("("):
            open_paren = self._take()
            with self._nested(open_paren):
                return self._call(token, open_paren)
        return Field(Scope.ANY, name)

    def _call(self, name: Token, open_paren: Token) -> Call:
        function = FUNCTIONS.get(name.text)
        if function is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise syntax_error(
                self._index, name.offset, f"unknown function {name.text!r}; functions are {known}"
            )
        args = self._items(")", open_paren)
        if len(args) < function.min_args or (function.max_args is not None and len(args) > function.max_args):
            most = "or more" if function.max_args is None else f"to {function.max_args}"
            count = (
                f"{function.min_args} {most}" if function.max_args != function.min_args else function.min_args
            )
            raise syntax_error(
                self._index, name.offset, f"{name.text} takes {count} arguments, got {len(args)}"
            )
        return Call(name.text, args)

    def _items(self, close: str, opening: Token) -> tuple[Expr, ...]:
        items: list[Expr] = []
        if self._accept(close):
            return ()
        while True:
            items.append(self._expr())
            if len(items) > MAX_LIST_ITEMS:
                raise syntax_error(self._index, opening.offset, f"at most {MAX_LIST_ITEMS} items")
            if self._accept(close):
                return tuple(items)
            self._expect(",", f"',' or '{close}'")
