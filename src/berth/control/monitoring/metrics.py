"""Accuracy metrics of a set of outcomes: classification or regression, never NaN.

Classification: accuracy, precision / recall / F1 per class (0 when a class was never predicted
or never true, as scikit-learn's ``zero_division=0``), macro F1 over the classes seen in
predictions or feedback, and log-loss (probabilities clipped to [1e-15, 1]) when every outcome has
probabilities matching the classes. Regression: MAE and RMSE. No outcomes: ``n = 0``, no metrics.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from berth.control.monitoring.predictions import Outcome, Task

EPSILON = 1e-15


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Metrics:
    n: int
    accuracy: float | None = None
    macro_f1: float | None = None
    log_loss: float | None = None
    per_class: dict[str, ClassMetrics] = field(default_factory=dict)
    mae: float | None = None
    rmse: float | None = None

    @property
    def status(self) -> str:
        return "ok" if self.n else "no_data"

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, **asdict(self)}


def metrics(rows: Sequence[Outcome], task: Task | None, classes: Sequence[str]) -> Metrics:
    if not rows or task is None:
        return Metrics(n=0)
    if task is Task.REGRESSION:
        return _regression(rows)
    return _classification(rows, classes)


def _regression(rows: Sequence[Outcome]) -> Metrics:
    errors = [float(r.predicted) - float(r.actual) for r in rows]
    mae = sum(abs(e) for e in errors) / len(errors)
    rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    return Metrics(n=len(rows), mae=_finite(mae), rmse=_finite(rmse))


def _classification(rows: Sequence[Outcome], classes: Sequence[str]) -> Metrics:
    predicted = Counter(str(r.predicted) for r in rows)
    actual = Counter(str(r.actual) for r in rows)
    hits = Counter(str(r.actual) for r in rows if r.predicted == r.actual)
    per_class = {}
    for label in sorted(set(predicted) | set(actual)):
        precision = hits[label] / predicted[label] if predicted[label] else 0.0
        recall = hits[label] / actual[label] if actual[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassMetrics(precision, recall, f1, actual[label])
    return Metrics(
        n=len(rows),
        accuracy=sum(hits.values()) / len(rows),
        macro_f1=sum(c.f1 for c in per_class.values()) / len(per_class),
        log_loss=_log_loss(rows, classes),
        per_class=per_class,
    )


def _log_loss(rows: Sequence[Outcome], classes: Sequence[str]) -> float | None:
    index = {c: i for i, c in enumerate(classes)}
    total = 0.0
    for row in rows:
        probabilities = row.probabilities
        position = index.get(str(row.actual))
        if probabilities is None or position is None or len(probabilities) != len(classes):
            return None
        total -= math.log(min(1.0, max(EPSILON, probabilities[position])))
    return _finite(total / len(rows))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
