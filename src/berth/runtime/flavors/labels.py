"""Class labels: recorded as JSON at push time, given back as the labels the model was trained with."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from berth.runtime.flavors.outputs import PREDICT, PREDICT_PROBA


def labels_to_json(classes: Any) -> list[Any]:
    """JSON-able class labels (numpy scalars become Python ones; anything else its string)."""
    values = np.asarray(classes).tolist()
    return [v if isinstance(v, str | int | float | bool) else str(v) for v in values]


def labels_array(labels: Sequence[Any]) -> np.ndarray[Any, Any]:
    """Labels as an array to index into: strings as an object array, numbers as numbers."""
    array = np.asarray(list(labels))
    if array.dtype.kind in ("U", "S", "O", "T"):
        return np.asarray(list(labels), dtype=object)
    return array


def as_output_labels(values: Any) -> np.ndarray[Any, Any]:
    """Predicted labels as an output array: numpy's fixed-width strings become an object array."""
    array = np.asarray(values)
    if array.dtype.kind in ("U", "S", "T"):
        return array.astype(object)
    return array


def binary_proba(positive: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The [N, 2] probabilities of a binary model from the probability of the positive class."""
    p = np.asarray(positive, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - p, p])


def labels_from_proba(proba: np.ndarray[Any, Any], classes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The most probable class of each row (ties go to the first class, as in scikit-learn)."""
    return np.asarray(classes[np.argmax(proba, axis=1)])


def classifier_answer(
    proba: np.ndarray[Any, Any], classes: np.ndarray[Any, Any], wanted: Collection[str]
) -> dict[str, np.ndarray[Any, Any]]:
    """The ``predict`` (labels) and ``predict_proba`` outputs among `wanted`, from probabilities."""
    answer: dict[str, np.ndarray[Any, Any]] = {}
    if PREDICT in wanted:
        answer[PREDICT] = labels_from_proba(proba, classes)
    if PREDICT_PROBA in wanted:
        answer[PREDICT_PROBA] = proba
    return answer
