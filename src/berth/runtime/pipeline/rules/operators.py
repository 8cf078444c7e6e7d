"""The kinds of values of the rules language and the semantics of its operators.

Kinds: null, boolean, number (integers and decimals), text, list (a row of a 2-D column, or a
list literal). Equality across kinds is false (``1 == "1"`` is false, ``true == 1`` too); ordering
(``< <= > >=``) needs two numbers or two texts, else the rule fails; any operand null: false.
``contains``/``startswith``/``endswith`` compare texts case-insensitively (``contains`` on a list:
an element equal to the right side); a null left side: false.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final


class RuleFailure(Exception):
    """A rule cannot be evaluated on a row (the step turns it into PIPELINE_STEP_FAILED)."""


_KINDS: Final[dict[type, str]] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "text",
    list: "list",
}


def kind_of(value: Any) -> str:
    """The kind of a value: null, boolean, number, text or list."""
    kind = _KINDS.get(type(value))
    return kind if kind is not None else type(value).__name__


def show(value: Any) -> str:
    text = repr(value)
    return f"{kind_of(value)} {text if len(text) <= 40 else text[:37] + '...'}"


def number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleFailure(f"{where} takes a number, got {show(value)}")
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RuleFailure(f"{where} takes text, got {show(value)}")
    return value


def truth(value: Any, where: str) -> bool:
    """A condition's value: true/false; null counts as false; anything else fails."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    raise RuleFailure(f"{where} needs true/false, got {show(value)}")


def equal(left: Any, right: Any) -> bool:
    if type(left) is type(right) and type(left) is not list:
        return bool(left == right)
    if kind_of(left) != kind_of(right):
        return False
    return bool(left == right)


def _ordered(op: Callable[[Any, Any], bool], symbol: str) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        if left is None or right is None:
            return False
        kinds = kind_of(left), kind_of(right)
        if kinds[0] != kinds[1] or kinds[0] not in ("number", "text"):
            raise RuleFailure(f"cannot compare {show(left)} {symbol} {show(right)}")
        return op(left, right)

    return compare


def _text_test(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        if left is None:
            return False
        if name == "contains" and isinstance(left, list):
            return any(equal(item, right) for item in left)
        return test(text(left, name).casefold(), text(right, name).casefold())

    return compare


def is_in(item: Any, items: Any) -> bool:
    if not isinstance(items, list):
        raise RuleFailure(f"'in' takes a list on its right, got {show(items)}")
    return any(equal(item, x) for x in items)


COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": equal,
    "!=": lambda left, right: not equal(left, right),
    "<": _ordered(operator.lt, "<"),
    "<=": _ordered(operator.le, "<="),
    ">": _ordered(operator.gt, ">"),
    ">=": _ordered(operator.ge, ">="),
    "contains": _text_test("contains", lambda a, b: b in a),
    "startswith": _text_test("startswith", str.startswith),
    "endswith": _text_test("endswith", str.endswith),
    "in": is_in,
    "not in": lambda item, items: not is_in(item, items),
}
