"""Which recorded output is "the prediction" of a labelled record, and what it says.

A record's outputs are tensors (`TensorsJson`); the prediction is the first row of one of them:

- **classification** (the feedback carries labels): the output the caller names, else the first
  output holding one class per row (BYTES, an integer or BOOL datatype, one column). Classes are
  compared as text (``1`` and ``1.0`` are the class ``"1"``, as in profiles).
  **Probabilities**: the output the caller names, else the first floating-point output with two or
  more columns; its columns are the classes in `classes` order, by default the sorted distinct
  classes of predictions and feedback (scikit-learn's ``classes_`` order; numbers sorted as numbers).
- **regression** (the feedback carries values): the named output, else the first numeric output.

A labelled prediction whose chosen output is missing or malformed is skipped (and counted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from berth.control.monitoring.profiling import category_key
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import LabelledPrediction, TensorJson

_CLASS_TYPES = ("BYTES", "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
_NUMERIC_TYPES = (*_CLASS_TYPES[1:], "FP16", "FP32", "FP64")


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled prediction reduced to what metrics need."""

    version: int
    variant: str
    at: float
    """Seconds since the epoch (for time buckets)."""
    predicted: str | float
    actual: str | float
    probabilities: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Outcomes:
    task: Task | None
    output: str | None
    probabilities: str | None
    classes: tuple[str, ...]
    rows: list[Outcome]
    skipped: int


def outcomes(
    labelled: Sequence[LabelledPrediction],
    *,
    output: str | None = None,
    probabilities: str | None = None,
    classes: Sequence[str] | None = None,
) -> Outcomes:
    """The outcomes of labelled predictions (see the module doc for how the output is chosen)."""
    task = _task(labelled)
    if task is None:
        return Outcomes(None, output, probabilities, (), [], len(labelled))
    chosen = output or _default_output(labelled, task)
    if output is not None and not any(output in p.outputs for p in labelled):
        raise BerthError(ErrorCode.OUTPUT_NOT_FOUND, f"no labelled prediction has the output {output!r}")
    proba = probabilities or (_default_probabilities(labelled) if task is Task.CLASSIFICATION else None)
    rows: list[Outcome] = []
    for item in labelled:
        row = _outcome(item, task, chosen, proba)
        if row is not None:
            rows.append(row)
    found = tuple(classes) if classes else _classes(rows)
    return Outcomes(task, chosen, proba, found, rows, len(labelled) - len(rows))


def _task(labelled: Sequence[LabelledPrediction]) -> Task | None:
    labels = sum(1 for p in labelled if p.label is not None)
    values = sum(1 for p in labelled if p.value is not None and math.isfinite(p.value))
    if not labels and not values:
        return None
    return Task.CLASSIFICATION if labels >= values else Task.REGRESSION


def _default_output(labelled: Sequence[LabelledPrediction], task: Task) -> str | None:
    wanted = _CLASS_TYPES if task is Task.CLASSIFICATION else _NUMERIC_TYPES
    for item in labelled:
        for name, tensor in item.outputs.items():
            if _datatype(tensor) in wanted and _width(tensor) == 1:
                return name
    return None


def _default_probabilities(labelled: Sequence[LabelledPrediction]) -> str | None:
    for item in labelled:
        for name, tensor in item.outputs.items():
            if _datatype(tensor) in ("FP16", "FP32", "FP64") and _width(tensor) >= 2:
                return name
    return None


def _outcome(item: LabelledPrediction, task: Task, output: str | None, proba: str | None) -> Outcome | None:
    first = _first_row(item.outputs.get(output)) if output else None
    if not first:
        return None
    at = item.recorded_at.timestamp()
    if task is Task.REGRESSION:
        predicted, actual = _number(first[0]), item.value
        if predicted is None or actual is None or not math.isfinite(actual):
            return None
        return Outcome(item.version, item.variant, at, predicted, float(actual))
    label = category_key(first[0])
    if label is None or item.label is None:
        return None
    row = _first_row(item.outputs.get(proba)) if proba else None
    numbers = [_number(v) for v in row] if row else None
    probabilities = tuple(v for v in numbers if v is not None) if numbers and None not in numbers else None
    return Outcome(item.version, item.variant, at, label, item.label, probabilities)


def _classes(rows: list[Outcome]) -> tuple[str, ...]:
    found = {str(r.predicted) for r in rows} | {str(r.actual) for r in rows}
    try:
        return tuple(sorted(found, key=float))
    except ValueError:
        return tuple(sorted(found))


def _first_row(tensor: TensorJson | None) -> list[Any] | None:
    if not isinstance(tensor, Mapping):
        return None
    data, width = tensor.get("data"), _width(tensor)
    if not isinstance(data, list) or not width or len(data) < width:
        return None
    return data[:width]


def _datatype(tensor: Any) -> str:
    return str(tensor.get("datatype", "")) if isinstance(tensor, Mapping) else ""


def _width(tensor: Any) -> int:
    try:
        shape = [int(d) for d in tensor["shape"]]
    except (TypeError, KeyError, ValueError):
        return 0
    return math.prod(shape[1:]) if shape else 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
