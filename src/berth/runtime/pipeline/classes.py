"""Post-steps on a classifier's probabilities: ``threshold`` and ``top_k``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.core.codecs._arrays import Array
from berth.runtime.flavors.labels import labels_array
from berth.runtime.flavors.outputs import PREDICT_PROBA
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.spec import SpecReader, check_scalar, invalid_spec
from berth.runtime.pipeline.step import column_of, step_failed
from berth.runtime.pipeline.values import key_text

MAX_K = 1000


@dataclass(frozen=True, slots=True)
class ThresholdStep:
    """A boolean column: ``{"type": "threshold", "class": "yes", "threshold": 0.7, "into": "ok"}``.

    A boolean column `into`: the score is ``>=`` the threshold (NaN: false). On an [N, k] column the
    score is that of one class: ``class`` (a label, matched by its string form against the labels
    of the version that answered) or ``class_index`` (0-based; negative counts from the end);
    neither: the last class (the positive class of a binary classifier). A 1-D column is the score.
    """

    into: str
    threshold: float
    column: str = PREDICT_PROBA
    label: Any = None
    class_index: int | None = None
    kind = "threshold"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> ThresholdStep:
        column, threshold, into = (
            spec.text("column", PREDICT_PROBA),
            spec.number("threshold"),
            spec.text("into"),
        )
        label = spec.value("class", required=False)
        index = spec.integer("class_index", 0) if spec.has("class_index") else None
        if label is not None and index is not None:
            raise invalid_spec("give 'class' (a label) or 'class_index', not both")
        if label is not None:
            check_scalar("'class'", label)
        return cls(into, threshold, column, label, index)

    def describe(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.kind, "column": self.column}
        if self.label is not None:
            spec["class"] = self.label
        if self.class_index is not None:
            spec["class_index"] = self.class_index
        return {**spec, "threshold": self.threshold, "into": self.into}

    def columns_read(self) -> Collection[str]:
        return (self.column,)

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None if known is None else known | {self.into}

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        scores = _numeric(self.column, column_of(frame, self.column))
        if scores.ndim == 2:
            scores = scores[:, self._position(scores.shape[1], ctx.classes)]
        elif scores.ndim != 1 or self.label is not None or self.class_index is not None:
            raise step_failed(
                f"column {self.column!r} has shape {list(scores.shape)}; a class needs [N, k] scores",
                column=self.column,
            )
        with np.errstate(invalid="ignore"):
            return frame.with_columns({self.into: scores >= self.threshold})

    def _position(self, width: int, classes: Sequence[Any] | None) -> int:
        if self.label is not None:
            return _label_position(self.label, width, classes)
        index = -1 if self.class_index is None else self.class_index
        if not -width <= index < width:
            raise step_failed(f"class_index {index} is out of range for {width} classes")
        return index % width


def _label_position(label: Any, width: int, classes: Sequence[Any] | None) -> int:
    if classes is None:
        raise step_failed(f"the version that answered has no class labels to find {label!r}; use class_index")
    texts = [key_text(c) for c in classes]
    if len(texts) != width:
        raise step_failed(f"the version has {len(texts)} class labels for {width} scores")
    try:
        return texts.index(key_text(label))
    except ValueError:
        raise step_failed(f"class {label!r} is not one of the version's classes {list(classes)}") from None


@dataclass(frozen=True, slots=True)
class TopKStep:
    """``{"type": "top_k", "column": "predict_proba", "k": 3, "into": "top"}``.

    Two [N, k] columns: ``<into>_labels`` (the version's class labels, else class indices) and
    ``<into>_scores``, best first (ties: the lower class index first; NaN scores last). A k larger
    than the number of classes gives all classes.
    """

    into: str
    k: int
    column: str = PREDICT_PROBA
    kind = "top_k"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> TopKStep:
        column, k = spec.text("column", PREDICT_PROBA), spec.integer("k")
        into = spec.text("into")
        if not 1 <= k <= MAX_K:
            raise invalid_spec(f"'k' must be between 1 and {MAX_K}, got {k}")
        return cls(into, k, column)

    @property
    def labels_column(self) -> str:
        return f"{self.into}_labels"

    @property
    def scores_column(self) -> str:
        return f"{self.into}_scores"

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "column": self.column, "k": self.k, "into": self.into}

    def columns_read(self) -> Collection[str]:
        return (self.column,)

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None if known is None else known | {self.labels_column, self.scores_column}

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        scores = _numeric(self.column, column_of(frame, self.column))
        if scores.ndim != 2:
            raise step_failed(
                f"column {self.column!r} has shape {list(scores.shape)}; top_k needs [N, classes]",
                column=self.column,
            )
        width = scores.shape[1]
        k = min(self.k, width)
        order = np.argsort(_descending_key(scores), axis=1, kind="stable")[:, :k]
        labels: Array = order
        if ctx.classes is not None:
            if len(ctx.classes) != width:
                raise step_failed(f"the version has {len(ctx.classes)} class labels for {width} scores")
            labels = labels_array(ctx.classes)[order]
        top = np.take_along_axis(scores, order, axis=1)
        return frame.with_columns({self.labels_column: labels, self.scores_column: top})


def _descending_key(scores: Array) -> Array:
    """Sort keys for best-first order: negated scores, NaN last."""
    key = -scores.astype(np.float64, copy=False)
    return np.where(np.isnan(key), np.inf, key)


def _numeric(name: str, column: Array) -> Array:
    if column.dtype.kind not in "iuf":
        raise step_failed(f"column {name!r} is {column.dtype}, not scores", column=name)
    return column
