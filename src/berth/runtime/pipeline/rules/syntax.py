"""The syntax tree of a rule (what the parser builds and the evaluator compiles)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    """Where a field is read: outputs then inputs (a bare name), or one of them explicitly."""

    ANY = "any"
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Field:
    scope: Scope
    name: str


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" or "-"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # "and" or "or"
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >= contains startswith endswith in "not in" "is null" "is not null"
    left: Expr
    right: Expr


Expr = Literal | Field | ListOf | Call | Unary | Logical | Compare


@dataclass(frozen=True, slots=True)
class Assignment:
    target: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Rule:
    """``if <condition> then <assignments> [else <assignments>]``."""

    text: str
    condition: Expr
    then: tuple[Assignment, ...]
    otherwise: tuple[Assignment, ...]


def fields_of(node: Expr | Rule) -> list[Field]:
    """Every field a rule or an expression reads, in order of appearance (with repeats)."""
    if isinstance(node, Rule):
        found = fields_of(node.condition)
        for assignment in (*node.then, *node.otherwise):
            found += fields_of(assignment.value)
        return found
    if isinstance(node, Field):
        return [node]
    if isinstance(node, Literal):
        return []
    if isinstance(node, Unary):
        return fields_of(node.operand)
    if isinstance(node, Compare):
        return fields_of(node.left) + fields_of(node.right)
    parts = node.items if isinstance(node, ListOf) else node.args if isinstance(node, Call) else node.operands
    return [f for part in parts for f in fields_of(part)]


def targets_of(rule: Rule) -> list[str]:
    """The output columns a rule assigns, in order, without repeats."""
    return list(dict.fromkeys(a.target for a in (*rule.then, *rule.otherwise)))
