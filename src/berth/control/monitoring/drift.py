"""Drift of current feature values against a version's reference profile, feature by feature.

The test depends on how many current values a feature has: small is fewer than
`DriftConfig.large_sample`.

- numeric, small: two-sample KS vs the reservoir, drifted when p < `alpha`;
  large: Wasserstein distance / reference std > `wasserstein_threshold`;
- categorical, small: chi-square vs the frequencies, p < `alpha`;
  large: Jensen-Shannon distance > `js_threshold`;
- text (its tokens), small: chi-square vs the vocabulary, p < `alpha`;
  large: Jensen-Shannon distance > `js_threshold`.

On large samples p-values flag every tiny difference, so distances decide there; PSI is
reported for every feature (and decides instead when `large_test="psi"`, above `psi_threshold`).
Fewer than `min_values` current values: ``insufficient_data``; none: ``no_data`` (no verdict).
The dataset drifts when at least `drift_share` of the features that got a verdict drifted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from berth.control.monitoring.features import FeatureValues
from berth.control.monitoring.profile import (
    OTHER,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    Profile,
    TextProfile,
)
from berth.control.monitoring.profiling import bin_counts, category_key
from berth.control.monitoring.sample import Column
from berth.control.monitoring.statistics import (
    aligned_counts,
    chi_square_test,
    jensen_shannon,
    ks_test,
    psi,
    wasserstein,
)
from berth.control.monitoring.text import tokens
from berth.core.errors import BerthError, ErrorCode


class DriftStatus(StrEnum):
    OK = "ok"
    DRIFTED = "drifted"
    INSUFFICIENT_DATA = "insufficient_data"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class DriftConfig:
    large_sample: int = 1_000
    min_values: int = 30
    alpha: float = 0.05
    wasserstein_threshold: float = 0.1
    js_threshold: float = 0.1
    psi_threshold: float = 0.2
    large_test: Literal["distance", "psi"] = "distance"
    drift_share: float = 0.5

    def __post_init__(self) -> None:
        numbers = (self.alpha, self.wasserstein_threshold, self.js_threshold, self.psi_threshold)
        if (
            self.large_sample < 1
            or self.min_values < 1
            or not all(math.isfinite(x) and x > 0 for x in numbers)
            or not 0 < self.alpha < 1
            or not 0 < self.drift_share <= 1
            or self.large_test not in ("distance", "psi")
        ):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"invalid drift configuration: {self}")


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    feature: str
    kind: str
    status: DriftStatus
    test: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    n_reference: int
    n_current: int
    psi: float | None = None
    details: dict[str, float] = field(default_factory=dict)

    @property
    def drifted(self) -> bool | None:
        if self.status in (DriftStatus.OK, DriftStatus.DRIFTED):
            return self.status is DriftStatus.DRIFTED
        return None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value, "drifted": self.drifted}


@dataclass(frozen=True, slots=True)
class DriftVerdict:
    """The dataset-level answer over the features that got a verdict."""

    status: DriftStatus
    tested: int
    drifted: int
    drift_share: float
    drifted_features: list[str]

    @property
    def share(self) -> float:
        return self.drifted / self.tested if self.tested else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value, "share": self.share}


@dataclass(frozen=True, slots=True)
class DriftReport:
    inputs: list[FeatureDrift]
    outputs: list[FeatureDrift]
    dataset: DriftVerdict
    prediction: DriftVerdict
    records: int

    def feature(self, name: str) -> FeatureDrift:
        for result in (*self.inputs, *self.outputs):
            if result.feature == name:
                return result
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "dataset": self.dataset.to_json(),
            "prediction": self.prediction.to_json(),
            "inputs": [f.to_json() for f in self.inputs],
            "outputs": [f.to_json() for f in self.outputs],
        }


Current = FeatureValues | Mapping[str, Column]


def compute_drift(
    profile: Profile,
    inputs: Current,
    outputs: Current | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Input drift (and prediction drift when `outputs` are given) against `profile`."""
    config = config or DriftConfig()
    in_columns, records = _columns(inputs)
    out_columns, _ = _columns(outputs) if outputs is not None else ({}, 0)
    input_results = [feature_drift(n, p, in_columns.get(n), config) for n, p in profile.inputs.items()]
    output_results = (
        [feature_drift(n, p, out_columns.get(n), config) for n, p in profile.outputs.items()]
        if outputs is not None
        else []
    )
    return DriftReport(
        inputs=input_results,
        outputs=output_results,
        dataset=verdict(input_results, config),
        prediction=verdict(output_results, config),
        records=records,
    )


def verdict(results: list[FeatureDrift], config: DriftConfig) -> DriftVerdict:
    tested = [r for r in results if r.drifted is not None]
    drifted = [r.feature for r in tested if r.drifted]
    if not tested:
        empty = all(r.status is DriftStatus.NO_DATA for r in results)
        status = DriftStatus.NO_DATA if empty else DriftStatus.INSUFFICIENT_DATA
    else:
        over = len(drifted) / len(tested) >= config.drift_share
        status = DriftStatus.DRIFTED if over else DriftStatus.OK
    return DriftVerdict(status, len(tested), len(drifted), config.drift_share, drifted)


def feature_drift(
    name: str, reference: FeatureProfile, current: Column | None, config: DriftConfig
) -> FeatureDrift:
    """One feature's drift; a feature absent from the current values has ``no_data``."""
    values = np.empty(0) if current is None else np.asarray(current)
    if isinstance(reference, NumericProfile):
        with np.errstate(all="ignore"):  # overflow on huge values: the results are made finite
            return _numeric(name, reference, _numbers(values), config)
    if isinstance(reference, CategoricalProfile):
        return _categorical(name, reference, category_counts(values), config)
    return _text(name, reference, values, config)


def _numeric(
    name: str, reference: NumericProfile, values: np.ndarray[Any, Any], config: DriftConfig
) -> FeatureDrift:
    n = len(values)
    early = _early(name, "numeric", reference.count, n, config)
    if early is not None:
        return early
    counts = bin_counts(np.asarray(reference.edges, dtype=np.float64), values)
    index = psi(reference.counts, [float(c) for c in counts])
    details = {"mean_reference": reference.mean, "mean_current": _finite(float(np.mean(values)))}
    if n < config.large_sample:
        statistic, p_value = ks_test(np.asarray(reference.reservoir), values)
        return _result(
            name,
            "numeric",
            "ks",
            statistic,
            p_value,
            config.alpha,
            p_value < config.alpha,
            reference.count,
            n,
            index,
            details,
        )
    if config.large_test == "psi":
        return _result(
            name,
            "numeric",
            "psi",
            index,
            None,
            config.psi_threshold,
            index > config.psi_threshold,
            reference.count,
            n,
            index,
            details,
        )
    distance = wasserstein(np.asarray(reference.reservoir), values, reference.scale)
    return _result(
        name,
        "numeric",
        "wasserstein",
        distance,
        None,
        config.wasserstein_threshold,
        distance > config.wasserstein_threshold,
        reference.count,
        n,
        index,
        details,
    )


def _categorical(
    name: str, reference: CategoricalProfile, counts: Counter[str], config: DriftConfig
) -> FeatureDrift:
    return _counts_drift(
        name, "categorical", reference.frequencies, reference.count, counts, sum(counts.values()), config, {}
    )


def _text(name: str, reference: TextProfile, values: Column, config: DriftConfig) -> FeatureDrift:
    texts = [v for v in values if isinstance(v, str) and v]
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokens(text))
    total = sum(counts.values())
    unknown = sum(c for t, c in counts.items() if t not in reference.vocabulary or t == OTHER)
    details = {
        "oov_rate_reference": reference.oov_rate,
        "oov_rate_current": unknown / total if total else 0.0,
        "tokens_mean_reference": reference.tokens.mean,
        "tokens_mean_current": total / len(texts) if texts else 0.0,
    }
    return _counts_drift(
        name, "text", reference.vocabulary, reference.count, counts, len(texts), config, details
    )


def _counts_drift(
    name: str,
    kind: str,
    reference: Mapping[str, int],
    n_reference: int,
    counts: Mapping[str, int],
    n: int,
    config: DriftConfig,
    details: dict[str, float],
) -> FeatureDrift:
    early = _early(name, kind, n_reference, n, config)
    if early is not None:
        return early
    ref, cur = aligned_counts(reference, counts, OTHER)
    index = psi(ref, cur)
    if n < config.large_sample:
        statistic, p_value = chi_square_test(ref, cur)
        return _result(
            name,
            kind,
            "chi_square",
            statistic,
            p_value,
            config.alpha,
            p_value < config.alpha,
            n_reference,
            n,
            index,
            details,
        )
    if config.large_test == "psi":
        return _result(
            name,
            kind,
            "psi",
            index,
            None,
            config.psi_threshold,
            index > config.psi_threshold,
            n_reference,
            n,
            index,
            details,
        )
    distance = jensen_shannon(ref, cur)
    return _result(
        name,
        kind,
        "jensen_shannon",
        distance,
        None,
        config.js_threshold,
        distance > config.js_threshold,
        n_reference,
        n,
        index,
        details,
    )


def _early(name: str, kind: str, n_reference: int, n: int, config: DriftConfig) -> FeatureDrift | None:
    """The answer without a test: no current values, or too few on either side."""
    if n == 0:
        return FeatureDrift(name, kind, DriftStatus.NO_DATA, None, None, None, None, n_reference, 0)
    if n < config.min_values or n_reference < config.min_values:
        return FeatureDrift(name, kind, DriftStatus.INSUFFICIENT_DATA, None, None, None, None, n_reference, n)
    return None


def _result(
    name: str,
    kind: str,
    test: str,
    statistic: float,
    p_value: float | None,
    threshold: float,
    drifted: bool,
    n_reference: int,
    n: int,
    index: float,
    details: dict[str, float],
) -> FeatureDrift:
    return FeatureDrift(
        feature=name,
        kind=kind,
        status=DriftStatus.DRIFTED if drifted else DriftStatus.OK,
        test=test,
        statistic=_finite(statistic),
        p_value=None if p_value is None else _finite(p_value),
        threshold=threshold,
        n_reference=n_reference,
        n_current=n,
        psi=_finite(index),
        details={k: _finite(v) for k, v in details.items()},
    )


def category_counts(values: Column) -> Counter[str]:
    """How often each category occurs (keys as `category_key` gives them; missing values left out)."""
    if values.dtype.kind in "biuf":
        numbers = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        unique, counts = np.unique(numbers, return_counts=True)
        found: Counter[str] = Counter()
        for value, count in zip(unique.tolist(), counts.tolist(), strict=True):
            key = category_key(value)
            if key is not None:
                found[key] += int(count)
        return found
    raw = Counter(values.tolist())
    merged: Counter[str] = Counter()
    for value, count in raw.items():
        key = category_key(value)
        if key is not None:
            merged[key] += count
    return merged


def _columns(current: Current | None) -> tuple[Mapping[str, Column], int]:
    if current is None:
        return {}, 0
    if isinstance(current, FeatureValues):
        return current.columns, current.records
    rows = max((len(c) for c in current.values()), default=0)
    return current, rows


def _numbers(values: Column) -> np.ndarray[Any, np.dtype[np.float64]]:
    if values.dtype.kind in "biuf":
        array = values.astype(np.float64)
    else:
        array = np.array(
            [v if isinstance(v, int | float) and not isinstance(v, bool) else math.nan for v in values],
            dtype=np.float64,
        )
    return array[np.isfinite(array)]


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
