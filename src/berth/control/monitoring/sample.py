"""A reference sample as named feature columns, with the naming every monitoring module shares.

Feature names follow the tensors a record stores (`berth.core.codecs.frames`):

- a DataFrame: one feature per column, named by the column;
- a dict of arrays: one feature per key for a 1-D array (or ``[N, 1]``), else ``key[j]`` for
  column ``j`` of an ``[N, k]`` array (higher ranks are flattened past the first dimension);
- an array or a list: it is the version's one input, named `input_name` (default ``input-0``,
  the signature's input name when known): ``input-0`` when 1-D, else ``input-0[j]``.

A column is a 1-D numpy array: numbers (float64, NaN = missing), booleans, or objects (strings,
None = missing).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from berth.core.errors import BerthError, ErrorCode

DEFAULT_INPUT_NAME: Final = "input-0"
MAX_FEATURES: Final = 2_000
"""More features than this cannot be profiled (the profile would not stay small)."""

Column = np.ndarray[Any, np.dtype[Any]]


def column_name(name: str, index: int, width: int) -> str:
    """The feature name of column `index` of a tensor `name` that has `width` columns."""
    return name if width == 1 else f"{name}[{index}]"


def sample_columns(sample: Any, *, input_name: str = DEFAULT_INPUT_NAME) -> dict[str, Column]:
    """The features of a sample (DataFrame, dict of arrays, array, list), by name (see module doc)."""
    if _is_data_frame(sample):
        names = [str(c) for c in sample.columns]
        if len(set(names)) != len(names):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"duplicate column names in the sample: {names}")
        columns = {name: _one_column(name, sample.iloc[:, i].to_numpy()) for i, name in enumerate(names)}
    elif isinstance(sample, Mapping):
        columns = {}
        for key, values in sample.items():
            columns.update(_split(str(key), values))
    else:
        columns = _split(input_name, sample)
    _check_sizes(columns)
    return columns


def _is_data_frame(sample: Any) -> bool:
    """Whether `sample` is a pandas DataFrame, without importing pandas (0.35 s) into a process that
    has none: `berth alert list` and the monitoring imports that read records and profiles."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(sample, pandas.DataFrame)


def _split(name: str, values: Any) -> dict[str, Column]:
    array = _as_array(name, values)
    if array.ndim == 0:
        array = array.reshape(1)
    table = array.reshape(array.shape[0], -1) if array.shape[0] else array.reshape(0, 1)
    width = table.shape[1]
    return {column_name(name, j, width): _one_column(name, table[:, j]) for j in range(width)}


def _as_array(name: str, values: Any) -> Column:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"sample {name!r} is not a regular array: {exc}"
        ) from None


def _one_column(name: str, values: Column) -> Column:
    """Numbers as float64, booleans as bool, everything else as objects (str or None)."""
    if values.dtype.kind == "b":
        return values.astype(bool)
    if values.dtype.kind in "iuf":
        return values.astype(np.float64) if values.dtype.kind == "f" else values.astype(np.int64)
    if values.dtype.kind in "OUS":
        return _objects(name, values)
    raise BerthError(
        ErrorCode.INVALID_REQUEST, f"sample {name!r} has unsupported values of type {values.dtype}"
    )


def _objects(name: str, values: Column) -> Column:
    out = np.empty(len(values), dtype=object)
    numbers = True
    for i, value in enumerate(values):
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if value is None or (isinstance(value, float) and value != value):  # None or NaN: missing
            out[i] = None
            continue
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            numbers = False
        out[i] = value
    if numbers:
        return np.array([np.nan if v is None else float(v) for v in out], dtype=np.float64)
    return np.array([None if v is None else str(v) for v in out], dtype=object)


def _check_sizes(columns: Mapping[str, Column]) -> None:
    if not columns:
        raise BerthError(ErrorCode.INVALID_REQUEST, "the sample has no features")
    if len(columns) > MAX_FEATURES:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"the sample has {len(columns)} features; at most {MAX_FEATURES}"
        )
    sizes = {len(c) for c in columns.values()}
    if len(sizes) > 1:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"the sample's features disagree on rows: {sorted(sizes)}"
        )
    if sizes == {0}:
        raise BerthError(ErrorCode.INVALID_REQUEST, "the sample has no rows")
