"""The two-sample tests and distances drift uses, on plain numpy arrays and counts.

Every function returns finite numbers for any non-empty input: proportions are floored at
`FLOOR` before logarithms (PSI) and reference counts get a pseudo-count of 0.5 before they become
expected frequencies (chi-square), so a category absent from one side never gives inf or NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from scipy import stats
from scipy.spatial import distance

FLOOR: Final = 1e-4
"""The smallest proportion PSI uses (a bin empty on one side counts as this share)."""
QUANTILE_GRID: Final = 1_000
"""Wasserstein distances compare the two quantile functions at this many evenly spaced points."""

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def ks_test(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (statistic D in [0, 1], p-value).

    The exact p-value assumes continuous data; on tied values (zero-inflated features, counts, or
    a value both samples hold) scipy's exact computation may not converge, and it then warns and
    falls back to the asymptotic one. Ties make the asymptotic distribution the honest choice, so
    it is used whenever the pooled samples repeat a value; any other case where the exact method
    gives up falls back the same way, without the warning (noise on every monitoring read)."""
    method = "asymp" if _has_ties(np.concatenate([reference, current])) else "auto"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful", RuntimeWarning)
        result = stats.ks_2samp(reference, current, method=method)
    return float(result.statistic), float(result.pvalue)


def _has_ties(values: FloatArray) -> bool:
    return bool(np.unique(values).size < np.asarray(values).size)


def chi_square_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Chi-square goodness of fit of the current counts to the reference's proportions (same
    categories, same order): (statistic, p-value); one category is (0, 1)."""
    observed = np.asarray(current, dtype=np.float64)
    if len(observed) < 2 or observed.sum() <= 0:
        return 0.0, 1.0
    smoothed = np.asarray(reference, dtype=np.float64) + 0.5
    expected = smoothed / smoothed.sum() * observed.sum()
    result = stats.chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue)


def jensen_shannon(reference: Sequence[float], current: Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors."""
    p, q = _proportions(reference), _proportions(current)
    if p is None or q is None:
        return 0.0
    return float(min(1.0, max(0.0, distance.jensenshannon(p, q, base=2.0))))


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index: sum of (q - p) * ln(q / p), proportions floored at `FLOOR`."""
    p, q = _proportions(reference), _proportions(current)
    if p is None or q is None:
        return 0.0
    p, q = np.maximum(p, FLOOR), np.maximum(q, FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def wasserstein(reference: FloatArray, current: FloatArray, scale: float) -> float:
    """The 1-Wasserstein distance of two samples divided by `scale` (the reference's std)."""
    grid = (np.arange(QUANTILE_GRID) + 0.5) / QUANTILE_GRID
    a = _sorted_quantiles(np.sort(reference), grid)
    b = _sorted_quantiles(np.sort(current), grid)
    value = float(np.mean(np.abs(a - b))) / scale
    return value if math.isfinite(value) else 0.0


def aligned_counts(
    reference: Mapping[str, int], current: Mapping[str, int], other: str
) -> tuple[list[float], list[float]]:
    """Both count vectors over the reference's categories plus `other` (where every category the
    reference does not list goes)."""
    keys = list(reference)
    if other not in reference:
        keys.append(other)
    cur = dict.fromkeys(keys, 0.0)
    for key, count in current.items():
        cur[key if key in reference else other] += count
    return [float(reference.get(k, 0)) for k in keys], [cur[k] for k in keys]


def _sorted_quantiles(values: FloatArray, grid: FloatArray) -> FloatArray:
    """Quantiles of sorted values (linear interpolation, as numpy's default): one sort, no partitions."""
    position = grid * (len(values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(values) - 1)
    fraction = position - low
    result: FloatArray = values[low] + (values[high] - values[low]) * fraction
    return result


def _proportions(counts: Sequence[float]) -> FloatArray | None:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return array / total if total > 0 else None
