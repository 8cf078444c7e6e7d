"""A/B comparison of two variants from feedback: is the difference real?

Classification compares accuracy: the difference b - a of two proportions with Newcombe's hybrid
score interval (1998, method 10), built from each side's Wilson score interval; it stays inside
[-1, 1] and behaves at accuracies near 0 or 1, where the plain normal interval does not.
Regression compares the mean absolute error: the difference of the mean absolute errors with a
Welch t interval (unequal variances, Welch-Satterthwaite degrees of freedom).

Verdict: the interval excludes 0 on the better side → ``"b better"`` / ``"a better"`` (higher
accuracy, or lower MAE, is better); it contains 0 → ``"no significant difference"``; fewer than
`min_n` outcomes on either side → ``"not enough data"`` (no interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

from berth.control.monitoring.predictions import Outcome, Task, outcomes
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import LabelledPrediction

B_BETTER = "b better"
A_BETTER = "a better"
NO_DIFFERENCE = "no significant difference"
NOT_ENOUGH = "not enough data"


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    a: str
    b: str
    metric: str | None
    """``accuracy`` or ``mae`` (None when no labelled prediction was usable)."""
    method: str | None = None
    """How the interval was computed (None: not enough data for one)."""
    n_a: int
    n_b: int
    value_a: float | None
    value_b: float | None
    difference: float | None = None
    """b - a."""
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare_variants(
    labelled: Sequence[LabelledPrediction],
    a: str,
    b: str,
    *,
    output: str | None = None,
    confidence: float = 0.95,
    min_n: int = 30,
) -> Comparison:
    """Compare variant `a` with variant `b` on the labelled predictions they answered."""
    if not (isinstance(confidence, float | int) and 0.5 <= confidence < 1):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"confidence must be in [0.5, 1), got {confidence!r}")
    if a == b:
        raise BerthError(ErrorCode.INVALID_REQUEST, "compare two different variants")
    found = outcomes(labelled, output=output)
    rows_a = [r for r in found.rows if r.variant == a]
    rows_b = [r for r in found.rows if r.variant == b]
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    if found.task is Task.REGRESSION:
        return _means(a, b, rows_a, rows_b, confidence, min_n)
    metric = "accuracy" if found.task is Task.CLASSIFICATION else None
    hits_a = sum(1 for r in rows_a if r.predicted == r.actual)
    hits_b = sum(1 for r in rows_b if r.predicted == r.actual)
    value_a = hits_a / len(rows_a) if rows_a else None
    value_b = hits_b / len(rows_b) if rows_b else None
    if metric is None or len(rows_a) < min_n or len(rows_b) < min_n or value_a is None or value_b is None:
        return Comparison(
            a=a,
            b=b,
            metric=metric,
            n_a=len(rows_a),
            n_b=len(rows_b),
            value_a=value_a,
            value_b=value_b,
            confidence=confidence,
            verdict=NOT_ENOUGH,
        )
    low, high = newcombe_interval(hits_a, len(rows_a), hits_b, len(rows_b), z)
    return Comparison(
        a=a,
        b=b,
        metric=metric,
        method="newcombe_wilson",
        n_a=len(rows_a),
        n_b=len(rows_b),
        value_a=value_a,
        value_b=value_b,
        difference=value_b - value_a,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        verdict=_verdict(low, high, higher_is_better=True),
    )


def wilson_interval(hits: int, n: int, z: float) -> tuple[float, float]:
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(hits_a: int, n_a: int, hits_b: int, n_b: int, z: float) -> tuple[float, float]:
    """The interval of p_b - p_a (Newcombe's method 10, from the two Wilson intervals)."""
    p_a, p_b = hits_a / n_a, hits_b / n_b
    low_a, high_a = wilson_interval(hits_a, n_a, z)
    low_b, high_b = wilson_interval(hits_b, n_b, z)
    difference = p_b - p_a
    low = difference - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    high = difference + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return max(-1.0, low), min(1.0, high)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float) -> tuple[float, float]:
    """The interval of mean(b) - mean(a) (Welch's t, unequal variances); both need 2+ values."""
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1) / len(a)
    var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(var_a + var_b)
    difference = mean_b - mean_a
    if se == 0 or not math.isfinite(se):
        return difference, difference
    df = se**4 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    t = float(stats.t.ppf(0.5 + confidence / 2, df))
    return difference - t * se, difference + t * se


def _means(
    a: str, b: str, rows_a: list[Outcome], rows_b: list[Outcome], confidence: float, min_n: int
) -> Comparison:
    errors_a = [abs(float(r.predicted) - float(r.actual)) for r in rows_a]
    errors_b = [abs(float(r.predicted) - float(r.actual)) for r in rows_b]
    mae_a = _finite_mean(errors_a)
    mae_b = _finite_mean(errors_b)
    if len(errors_a) < max(2, min_n) or len(errors_b) < max(2, min_n) or mae_a is None or mae_b is None:
        return Comparison(
            a=a,
            b=b,
            metric="mae",
            n_a=len(errors_a),
            n_b=len(errors_b),
            value_a=mae_a,
            value_b=mae_b,
            confidence=confidence,
            verdict=NOT_ENOUGH,
        )
    low, high = welch_interval(errors_a, errors_b, confidence)
    if not (math.isfinite(low) and math.isfinite(high)):
        return Comparison(
            a=a,
            b=b,
            metric="mae",
            n_a=len(errors_a),
            n_b=len(errors_b),
            value_a=mae_a,
            value_b=mae_b,
            confidence=confidence,
            verdict=NOT_ENOUGH,
        )
    return Comparison(
        a=a,
        b=b,
        metric="mae",
        method="welch",
        n_a=len(errors_a),
        n_b=len(errors_b),
        value_a=mae_a,
        value_b=mae_b,
        difference=mae_b - mae_a,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        verdict=_verdict(low, high, higher_is_better=False),
    )


def _finite_mean(values: Sequence[float]) -> float | None:
    mean = sum(values) / len(values) if values else math.nan
    return mean if math.isfinite(mean) else None


def _verdict(low: float, high: float, *, higher_is_better: bool) -> str:
    if low > 0:
        return B_BETTER if higher_is_better else A_BETTER
    if high < 0:
        return A_BETTER if higher_is_better else B_BETTER
    return NO_DIFFERENCE
