"""Rules compiled to Python closures over a row index: no `eval`, no code generation.

A compiled expression takes `Env` (each field the rule reads -> that column's row values) and a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from berth.engine.pipeline.rules.functions import FUNCTIONS
from berth.engine.pipeline.rules.syntax import Call, Compare, Expr, Field, ListOf, Literal, Logical, Unary
from berth.engine.pipeline.rules.values import COMPARISONS, RuleFailure, show, truth

Env = dict[Field, list[Any]]
Compiled = Callable[[Env, int], Any]


def compile_expr(node: Expr) -> Compiled:
    """A function computing `node` on one row."""
    if isinstance(node, Literal):
        value = node.value
        return lambda env, row: value
    if isinstance(node, Field):
        return lambda env, row: env[node][row]
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
    if op == "and":
        return lambda env, row: all(truth(o(env, row), where) for o in operands)
    return lambda env, row: any(truth(o(env, row), where) for o in operands)


def _compare(node: Compare) -> Compiled:
    left = compile_expr(node.left)
    if node.op == "is null":
        return lambda env, row: left(env, row) is None
    if node.op == "is not null":
        return lambda env, row: left(env, row) is not None
    test = COMPARISONS[node.op]
    right = compile_expr(node.right)
    return lambda env, row: test(left(env, row), right(env, row))
