"""Rules compiled to Python closures over a row index: no `eval`, no code generation.

A compiled expression takes an `Env` and a row index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from berth.runtime.pipeline.rules.functions import FUNCTIONS
from berth.runtime.pipeline.rules.operators import COMPARISONS, RuleFailure, show, truth
from berth.runtime.pipeline.rules.syntax import Call, Compare, Expr, Field, ListOf, Literal, Logical, Unary

Env = dict[str, list[Any]]
"""Each field a rule reads (by `field_key`) -> that column's values, one per row."""
Compiled = Callable[[Env, int], Any]


def compile_expr(node: Expr) -> Compiled:
    """A function computing `node` on one row."""
    if isinstance(node, Literal):
        value = node.value
        return lambda env, row: value
    if isinstance(node, Field):
        key = field_key(node)
        return lambda env, row: env[key][row]
    if isinstance(node, ListOf):
        items = [compile_expr(item) for item in node.items]
        return lambda env, row: [item(env, row) for item in items]
    if isinstance(node, Call):
        return _call(node)
    if isinstance(node, Unary):
        return _not(compile_expr(node.operand)) if node.op == "not" else _negate(compile_expr(node.operand))
    if isinstance(node, Logical):
        return _logical(node.op, [compile_expr(o) for o in node.operands])
    return _compare(node)


def field_key(field: Field) -> str:
    """The key of a field in `Env` (a string: its hash is cached)."""
    return f"{field.scope.value}.{field.name}"


def compile_condition(node: Expr) -> Callable[[Env, int], bool]:
    """A function telling whether a rule's condition holds on a row (null: no)."""
    compiled = compile_expr(node)
    return lambda env, row: truth(compiled(env, row), "the condition")


def _call(node: Call) -> Compiled:
    function = FUNCTIONS[node.function].call
    args = [compile_expr(a) for a in node.args]
    if len(args) == 1:
        (only,) = args
        return lambda env, row: function(only(env, row))
    return lambda env, row: function(*[a(env, row) for a in args])


def _not(operand: Compiled) -> Compiled:
    return lambda env, row: not truth(operand(env, row), "'not'")


def _negate(operand: Compiled) -> Compiled:
    def negate(env: Env, row: int) -> Any:
        value = operand(env, row)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleFailure(f"'-' takes a number, got {show(value)}")
        return -value

    return negate


def _logical(op: str, operands: list[Compiled]) -> Compiled:
    where = f"'{op}'"
    decisive = op == "or"  # the operand value that decides: true for 'or', false for 'and'

    def logical(env: Env, row: int) -> bool:
        for operand in operands:
            if truth(operand(env, row), where) is decisive:
                return decisive
        return not decisive

    return logical


def _compare(node: Compare) -> Compiled:
    left = compile_expr(node.left)
    if node.op == "is null":
        return lambda env, row: left(env, row) is None
    if node.op == "is not null":
        return lambda env, row: left(env, row) is not None
    test = COMPARISONS[node.op]
    right = compile_expr(node.right)
    return lambda env, row: test(left(env, row), right(env, row))
