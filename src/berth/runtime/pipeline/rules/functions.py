"""The functions rules may call: pure, on one row's values; null in gives null out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from berth.runtime.pipeline.rules.operators import RuleFailure, kind_of, number, text


@dataclass(frozen=True, slots=True)
class Function:
    call: Callable[..., Any]
    min_args: int
    max_args: int | None
    doc: str


def _lower(value: Any) -> Any:
    return None if value is None else text(value, "lower").lower()


def _upper(value: Any) -> Any:
    return None if value is None else text(value, "upper").upper()


def _trim(value: Any) -> Any:
    return None if value is None else text(value, "trim").strip()


def _len(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str | list):
        return len(value)
    raise RuleFailure(f"len takes text or a list, got {kind_of(value)}")


def _abs(value: Any) -> Any:
    return None if value is None else abs(number(value, "abs"))


def _round(value: Any, digits: Any = 0) -> Any:
    if value is None:
        return None
    places = number(digits, "round")
    if not isinstance(places, int) or not 0 <= places <= 15:
        raise RuleFailure("round's digits must be an integer from 0 to 15")
    return round(number(value, "round"), places)


def _extreme(name: str, pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def extreme(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        present = [v for v in values if v is not None]
        if not present:
            return None
        kinds = {kind_of(v) for v in present}
        if len(kinds) != 1 or not kinds <= {"number", "text"}:
            raise RuleFailure(f"{name} takes numbers or texts, got {', '.join(sorted(kinds))}")
        return pick(present)

    return extreme


def _coalesce(*args: Any) -> Any:
    return next((v for v in args if v is not None), None)


FUNCTIONS: Final[dict[str, Function]] = {
    "lower": Function(_lower, 1, 1, "text in lower case"),
    "upper": Function(_upper, 1, 1, "text in upper case"),
    "trim": Function(_trim, 1, 1, "text without leading and trailing white space"),
    "len": Function(_len, 1, 1, "the length of a text or a list"),
    "abs": Function(_abs, 1, 1, "the absolute value of a number"),
    "round": Function(_round, 1, 2, "a number rounded to 0 (default) to 15 decimals"),
    "min": Function(
        _extreme("min", min), 1, None, "the smallest of its arguments, or of one list (nulls skipped)"
    ),
    "max": Function(
        _extreme("max", max), 1, None, "the largest of its arguments, or of one list (nulls skipped)"
    ),
    "coalesce": Function(_coalesce, 1, None, "its first argument that is not null"),
}
