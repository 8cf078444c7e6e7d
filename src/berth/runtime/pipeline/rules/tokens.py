"""The tokenizer of the rules language: one pass over the text, no regular expressions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from berth.core.errors import BerthError
from berth.runtime.pipeline.spec import invalid_spec


class Kind(StrEnum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    SYMBOL = "symbol"
    END = "end of rule"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    value: Any
    offset: int

    def show(self) -> str:
        """The token as a message names it."""
        if self.kind is Kind.END:
            return "the end of the rule"
        if self.kind is Kind.STRING:
            return f"string {self.text[:30]}"
        return f"{self.kind.value} {self.text[:30]!r}"


SYMBOLS: Final = ("==", "!=", "<=", ">=", "<", ">", "=", "(", ")", "[", "]", ",", ".", "-")
_ESCAPES: Final = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}


def syntax_error(rule: int, offset: int, problem: str) -> BerthError:
    """An INVALID_PIPELINE error at a character of a rule (columns count from 1)."""
    return invalid_spec(f"rule {rule}, column {offset + 1}: {problem}", rule=rule, column=offset + 1)


def tokenize(text: str, rule: int) -> list[Token]:
    """The tokens of a rule, ending with an END token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in " \t\r\n":
            i += 1
        elif char.isascii() and (char.isalpha() or char == "_"):
            i = _name(text, i, tokens)
        elif char.isascii() and char.isdigit():
            i = _number(text, i, tokens, rule)
        elif char in "\"'":
            i = _string(text, i, tokens, rule)
        else:
            symbol = next((s for s in SYMBOLS if text.startswith(s, i)), None)
            if symbol is None:
                raise syntax_error(rule, i, f"unexpected character {char!r}")
            tokens.append(Token(Kind.SYMBOL, symbol, symbol, i))
            i += len(symbol)
    tokens.append(Token(Kind.END, "", None, n))
    return tokens


def _name(text: str, start: int, tokens: list[Token]) -> int:
    i = start
    while i < len(text) and text[i].isascii() and (text[i].isalnum() or text[i] == "_"):
        i += 1
    tokens.append(Token(Kind.NAME, text[start:i], text[start:i], start))
    return i


def _digits(text: str, i: int) -> int:
    while i < len(text) and text[i].isascii() and text[i].isdigit():
        i += 1
    return i


def _number(text: str, start: int, tokens: list[Token], rule: int) -> int:
    i = _digits(text, start)
    is_float = False
    if (
        i < len(text)
        and text[i] == "."
        and i + 1 < len(text)
        and text[i + 1].isascii()
        and text[i + 1].isdigit()
    ):
        i, is_float = _digits(text, i + 1), True
    if i < len(text) and text[i] in "eE":
        j = i + 1 + (i + 1 < len(text) and text[i + 1] in "+-")
        end = _digits(text, j)
        if end == j:
            raise syntax_error(rule, i, "expected digits after the exponent")
        i, is_float = end, True
    if i < len(text) and text[i].isascii() and (text[i].isalpha() or text[i] == "_"):
        raise syntax_error(rule, i, "expected an operator or a space after a number")
    literal = text[start:i]
    value: float | int = float(literal) if is_float else int(literal)
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        raise syntax_error(rule, start, f"number {literal[:30]} is too large")
    tokens.append(Token(Kind.NUMBER, literal, value, start))
    return i


def _string(text: str, start: int, tokens: list[Token], rule: int) -> int:
    quote = text[start]
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            tokens.append(Token(Kind.STRING, text[start : i + 1], "".join(chars), start))
            return i + 1
        if char == "\\":
            escaped = _ESCAPES.get(text[i + 1]) if i + 1 < len(text) else None
            if escaped is None:
                raise syntax_error(rule, i, "unknown escape; use \\\" \\' \\\\ \\n or \\t")
            chars.append(escaped)
            i += 2
        else:
            chars.append(char)
            i += 1
    raise syntax_error(rule, start, "unterminated string")
