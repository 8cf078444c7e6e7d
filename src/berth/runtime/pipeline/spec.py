"""Reading a step's JSON spec: every key known, every value of the right type (INVALID_PIPELINE)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from berth.core.bounded import duplicates, preview
from berth.core.errors import BerthError, ErrorCode

MAX_NAME_LENGTH: Final = 256
"""The longest column, table or feature name a spec may hold."""


def invalid_spec(problem: str, **details: Any) -> BerthError:
    """An INVALID_PIPELINE error; the pipeline's parser adds which step it was."""
    return BerthError(ErrorCode.INVALID_PIPELINE, problem, **details)


def is_scalar(value: Any) -> bool:
    """Whether a JSON value is a string, a finite number or a boolean (not null, list or object)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


class SpecReader:
    """The keys of one step's spec, read once each; `done` refuses the keys nobody read."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._spec = spec
        self._read: set[str] = {"type"}

    def has(self, key: str) -> bool:
        return key in self._spec

    def value(self, key: str, default: Any = None, *, required: bool = True) -> Any:
        self._read.add(key)
        if key not in self._spec:
            if required:
                raise invalid_spec(f"missing key {key!r}")
            return default
        return self._spec[key]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.value(key, default, required=default is None)
        return check_name(repr(key), value)

    def number(self, key: str, default: float | None = None) -> float:
        value = self.value(key, default, required=default is None)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise invalid_spec(f"{key!r} must be a finite number, got {_show(value)}")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.value(key, default, required=default is None)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_spec(f"{key!r} must be an integer, got {_show(value)}")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.value(key)
        if not isinstance(value, list) or not value:
            raise invalid_spec(f"{key!r} must be a non-empty list of names, got {_show(value)}")
        names = tuple(check_name(f"'{key}[{i}]'", item) for i, item in enumerate(value))
        repeated = duplicates(names)
        if repeated:
            raise invalid_spec(f"{key!r} names {preview(sorted(repeated))} more than once")
        return names

    def mapping(self, key: str, *, names: bool = True) -> dict[str, Any]:
        """A non-empty object; its keys are names (`check_name`) unless `names` is False."""
        value = self.value(key)
        if not isinstance(value, dict) or not value:
            raise invalid_spec(f"{key!r} must be a non-empty object, got {_show(value)}")
        for name in value:
            if names:
                check_name(f"a key of {key!r}", name)
            elif not isinstance(name, str):
                raise invalid_spec(f"the keys of {key!r} must be strings, got {_show(name)}")
        return value

    def done(self) -> None:
        extra = sorted(str(k) for k in self._spec if k not in self._read)
        if extra:
            raise invalid_spec(f"unknown keys {extra}; this step takes {sorted(self._read - {'type'})}")


def check_name(what: str, value: Any) -> str:
    """A non-empty name of at most `MAX_NAME_LENGTH` characters (INVALID_PIPELINE otherwise)."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        raise invalid_spec(
            f"{what} must be a non-empty string of at most {MAX_NAME_LENGTH} characters, got {_show(value)}"
        )
    return value


def check_scalar(what: str, value: Any) -> Any:
    """A string, finite number or boolean (INVALID_PIPELINE otherwise)."""
    if not is_scalar(value):
        raise invalid_spec(f"{what} must be a string, a finite number or a boolean, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
