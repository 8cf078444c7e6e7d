"""Accuracy from feedback: per (version, variant), per time bucket, and overall.

`performance(labelled, output=..., bucket_s=...)` turns labelled predictions (records joined
with their feedback) into a `PerformanceReport`. How the prediction output is chosen is told in
`berth.control.monitoring.predictions`; the metrics in `berth.control.monitoring.metrics`. Buckets
are aligned on multiples of `bucket_s` since the epoch (UTC) and only those with outcomes appear.
No labelled prediction (an empty window) gives ``status: "no_data"``, never a division error.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth.control.monitoring.metrics import Metrics, metrics
from berth.control.monitoring.predictions import Outcome, Outcomes, outcomes
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import LabelledPrediction

DEFAULT_BUCKET_S = 3_600.0
MAX_BUCKET_S = 10 * 366 * 86_400.0


@dataclass(frozen=True, slots=True)
class BucketPerformance:
    start: datetime
    end: datetime
    metrics: Metrics

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "metrics": self.metrics.to_json(),
        }


@dataclass(frozen=True, slots=True)
class GroupPerformance:
    version: int
    variant: str
    metrics: Metrics
    buckets: list[BucketPerformance]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "variant": self.variant,
            "metrics": self.metrics.to_json(),
            "buckets": [b.to_json() for b in self.buckets],
        }


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    task: str | None
    output: str | None
    probabilities: str | None
    overall: Metrics
    groups: list[GroupPerformance]
    skipped: int
    """Labelled predictions left out (no usable prediction or ground truth)."""

    @property
    def status(self) -> str:
        return self.overall.status

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "task": self.task,
            "output": self.output,
            "probabilities": self.probabilities,
            "overall": self.overall.to_json(),
            "groups": [g.to_json() for g in self.groups],
            "skipped": self.skipped,
        }


def performance(
    labelled: Sequence[LabelledPrediction],
    *,
    output: str | None = None,
    probabilities: str | None = None,
    classes: Sequence[str] | None = None,
    bucket_s: float = DEFAULT_BUCKET_S,
) -> PerformanceReport:
    if not (isinstance(bucket_s, int | float) and 1 <= bucket_s <= MAX_BUCKET_S):
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"bucket_s must be between 1 s and 10 years, got {bucket_s!r}"
        )
    found = outcomes(labelled, output=output, probabilities=probabilities, classes=classes)
    groups: dict[tuple[int, str], list[Outcome]] = defaultdict(list)
    for row in found.rows:
        groups[(row.version, row.variant)].append(row)
    return PerformanceReport(
        task=None if found.task is None else found.task.value,
        output=found.output,
        probabilities=found.probabilities,
        overall=metrics(found.rows, found.task, found.classes),
        groups=[
            GroupPerformance(
                version,
                variant,
                metrics(rows, found.task, found.classes),
                _buckets(rows, found, bucket_s),
            )
            for (version, variant), rows in sorted(groups.items())
        ],
        skipped=found.skipped,
    )


def _buckets(rows: list[Outcome], found: Outcomes, bucket_s: float) -> list[BucketPerformance]:
    by_bucket: dict[float, list[Outcome]] = defaultdict(list)
    for row in rows:
        by_bucket[math.floor(row.at / bucket_s) * bucket_s].append(row)
    return [
        BucketPerformance(
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(start + bucket_s, UTC),
            metrics(items, found.task, found.classes),
        )
        for start, items in sorted(by_bucket.items())
    ]
