"""Current feature values from recorded tensors, named as in reference profiles.

Records keep tensors in their JSON form (`berth.core.records.TensorsJson`). A tensor ``name`` of
shape ``[N]`` or ``[N, 1]`` is the feature ``name``; a tensor of shape ``[N, k]`` (higher ranks
are flattened past the first dimension) gives the features ``name[0]`` … ``name[k-1]``: the same
names `berth.control.monitoring.sample` gives a reference sample. Rows of every record are
concatenated, in record order.

Numbers become float64 arrays (missing or malformed values: NaN), BOOL tensors bool arrays, BYTES
tensors object arrays of strings. A record whose tensor is malformed, or whose tensor has another
width than most records, is skipped for that tensor and counted in `FeatureValues.skipped`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from berth.control.monitoring.sample import Column, column_name


@dataclass(frozen=True, slots=True)
class FeatureValues:
    """Feature columns of many records, how many records they came from and how many were skipped."""

    columns: dict[str, Column]
    records: int
    skipped: dict[str, int] = field(default_factory=dict)


def current_features(records: Iterable[Mapping[str, Any]]) -> FeatureValues:
    """The features of recorded tensors (e.g. each record's `inputs` or `outputs`)."""
    rows = [r for r in records if isinstance(r, dict | Mapping)]
    names = [k for k in dict.fromkeys(chain.from_iterable(rows)) if isinstance(k, str)]
    columns: dict[str, Column] = {}
    skipped: dict[str, int] = {}
    for name in names:
        tensors = [r[name] for r in rows if name in r]
        found, bad = _tensor_columns(name, tensors)
        columns.update(found)
        if bad:
            skipped[name] = bad
    return FeatureValues(columns=columns, records=len(rows), skipped=skipped)


def _tensor_columns(name: str, tensors: Sequence[Any]) -> tuple[dict[str, Column], int]:
    datatype = _datatype(tensors)
    try:
        fast = _same_shape_columns(name, tensors, datatype)
    except (TypeError, KeyError, ValueError, IndexError):
        fast = None
    return (fast, 0) if fast is not None else _slow_columns(name, tensors, datatype)


def _same_shape_columns(name: str, tensors: Sequence[Any], datatype: str) -> dict[str, Column] | None:
    """The fast path (C-level loops only): every tensor has the same shape and a full data list."""
    shapes = list(map(itemgetter("shape"), tensors))
    shape = shapes[0]
    if shapes.count(shape) != len(shapes):
        return None
    width = _width(shape)
    datas = list(map(itemgetter("data"), tensors))
    if not width or set(map(type, datas)) != {list} or set(map(len, datas)) != {_rows(shape) * width}:
        return None
    size = _rows(shape) * width
    flat = list(map(itemgetter(0), datas)) if size == 1 else list(chain.from_iterable(datas))
    return _split(name, _array(flat, datatype), width)


def _slow_columns(name: str, tensors: Sequence[Any], datatype: str) -> tuple[dict[str, Column], int]:
    """Record by record: keep the tensors of the most common width, skip the rest."""
    good: list[tuple[list[Any], int]] = []
    for tensor in tensors:
        try:
            data, shape = tensor["data"], tensor["shape"]
            width = _width(shape)
            if isinstance(data, list) and width and len(data) == _rows(shape) * width:
                good.append((data, width))
        except (TypeError, KeyError, ValueError):
            continue
    if not good:
        return {}, len(tensors)
    width = Counter(w for _, w in good).most_common(1)[0][0]
    kept = [d for d, w in good if w == width]
    flat = list(chain.from_iterable(kept))
    return _split(name, _array(flat, datatype), width), len(tensors) - len(kept)


def _datatype(tensors: Sequence[Any]) -> str:
    for tensor in tensors:
        if isinstance(tensor, Mapping) and isinstance(tensor.get("datatype"), str):
            return str(tensor["datatype"])
    return "FP64"


def _width(shape: Any) -> int:
    dims = [int(d) for d in shape]
    if not dims or any(d < 0 for d in dims):
        raise ValueError(f"bad shape {shape!r}")
    return math.prod(dims[1:])


def _rows(shape: Any) -> int:
    return int(shape[0]) if len(shape) else 1


def _split(name: str, values: Column, width: int) -> dict[str, Column]:
    table = values.reshape(-1, width)
    return {column_name(name, j, width): table[:, j] for j in range(width)}


def _array(flat: list[Any], datatype: str) -> Column:
    if datatype == "BYTES":
        return np.array([v if isinstance(v, str) or v is None else str(v) for v in flat], dtype=object)
    if datatype == "BOOL":
        try:
            return np.asarray(flat, dtype=bool)
        except (TypeError, ValueError):
            return np.array([bool(v) if isinstance(v, bool) else None for v in flat], dtype=object)
    try:
        return np.asarray(flat, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([_float(v) for v in flat], dtype=np.float64)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan
