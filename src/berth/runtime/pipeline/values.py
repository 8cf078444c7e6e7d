"""Python values <-> column arrays, and the string form of a value used as a key."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from berth.core.codecs._arrays import Array


def is_missing(value: Any) -> bool:
    """Whether a value is missing: None or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def key_text(value: Any) -> str | None:
    """The string form of a label or entity key; None for a missing value.

    Text is itself (bytes decoded as UTF-8), booleans are ``true``/``false``, numbers with an
    integral value are written as integers (``1.0`` -> ``"1"``) and other numbers as Python writes them.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if value is None:
        return None
    return str(value)


def row_values(array: Array) -> list[Any]:
    """A column as Python values per row: NaN is None, bytes are text, a 2-D row is a list."""
    kind = array.dtype.kind
    if kind == "f" and array.ndim > 1 and np.isnan(array).any():
        rows = array.astype(object)
        rows[np.isnan(array)] = None
        return list(rows.tolist())
    values: list[Any] = array.tolist()
    if kind == "f" and array.ndim == 1:
        return [None if v != v else v for v in values]
    if kind == "O" and array.ndim == 1:
        if all(type(v) is str for v in values):
            return values
        return [plain_value(v) for v in values]
    if kind in ("S", "U", "T") and array.ndim == 1:
        return [plain_value(v) for v in values]
    return values


def plain_value(value: Any) -> Any:
    """A value as plain Python: bytes as text, NaN as None, numpy scalars as Python ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def column_from_values(values: Sequence[Any]) -> Array | None:
    """A 1-D column from Python values (None: missing); None when they mix kinds.

    Booleans only -> bool; integers only -> int64; numbers and None -> float64 (None is NaN);
    text and None -> an object array (None kept); all None -> float64 NaN.
    """
    present = [v for v in values if v is not None]
    if not present:
        return np.full(len(values), np.nan)
    if all(type(v) is bool for v in present):
        return np.array(values, dtype=bool) if len(present) == len(values) else None
    if all(type(v) is str for v in present):
        return np.array(values, dtype=object)
    if all(type(v) is int or type(v) is float for v in present):
        if len(present) == len(values) and all(type(v) is int for v in present):
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:
                pass
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    return None


def describe_kinds(values: Sequence[Any]) -> str:
    """The kinds of values present, for messages (``"text, number"``)."""
    names = {bool: "boolean", str: "text", int: "number", float: "number"}
    return ", ".join(sorted({names.get(type(v), type(v).__name__) for v in values if v is not None}))
