"""Reference profiles: what the training data looked like, feature by feature, kept with a version.

A profile is built by `berth.control.monitoring.profiling.build_profile` from a sample the owner
passes at push time (features named as in `berth.control.monitoring.sample`), stored as JSON
(`to_json` / `from_json`, versioned by `format`). Each feature has one kind:

- **numeric** (floats, and integers with more than `ProfileConfig.max_int_categories` distinct
  values): count, missing share, mean/std/min/max, quantiles, a histogram on quantile bin edges
  (20 bins + two open ends) and a seeded reservoir sample (7 significant digits) for exact
  small-sample tests;
- **categorical** (booleans, integers with few distinct values, strings with at most
  `max_categories` distinct values): frequencies of the `top_categories` most frequent values,
  the rest counted as ``other``;
- **text** (strings with more distinct values, or a list of strings passed as the sample):
  length histograms (characters and tokens) and the `top_tokens` most frequent tokens, with the
  share of tokens outside them (the reference's out-of-vocabulary rate).

Missing values (NaN, None, the empty string) are counted, never profiled. A profile stays small
whatever the sample size: the reservoir shrinks as features grow (`reservoir_budget` values in
all, 50 to 2,000 per feature), so it is a few hundred KB for up to a few hundred features.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode

PROFILE_FORMAT: Final = 1
OTHER: Final = "__other__"
"""The bucket of every category (or token) a profile does not list by name."""
QUANTILES: Final = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


class FeatureKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    max_int_categories: int = 10
    """Integers with at most this many distinct values are categorical."""
    max_categories: int = 100
    """Strings with at most this many distinct values are categorical, else text."""
    top_categories: int = 50
    top_tokens: int = 500
    bins: int = 20
    reservoir_budget: int = 20_000
    """Reservoir values over all features (each numeric one gets 50 to 2,000)."""
    seed: int = 0


@dataclass(frozen=True, slots=True)
class NumericProfile:
    count: int
    missing: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]
    edges: list[float]
    """Sorted bin edges; bins are (-inf, e0), [e0, e1), …, [e_m-1, e_m], (e_m, inf)."""
    counts: list[int]
    """len(edges) + 1 counts: the open low end, the closed bins, the open high end."""
    reservoir: list[float]

    @property
    def kind(self) -> FeatureKind:
        return FeatureKind.NUMERIC

    @property
    def scale(self) -> float:
        """What a Wasserstein distance is divided by: the std, else the range, else 1.

        (Not the IQR: features with a few distinct values, common in tabular data, often have a
        tiny or zero IQR, so the same shift would look huge or infinite.)"""
        spread = self.max - self.min
        return self.std if self.std > 0 else spread if spread > 0 else 1.0


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    count: int
    missing: int
    distinct: int
    frequencies: dict[str, int]
    """The most frequent values' counts; every other value is counted under `OTHER`."""

    @property
    def kind(self) -> FeatureKind:
        return FeatureKind.CATEGORICAL


@dataclass(frozen=True, slots=True)
class TextProfile:
    count: int
    missing: int
    chars: NumericProfile
    tokens: NumericProfile
    vocabulary: dict[str, int]
    """The most frequent tokens' counts; every other token is counted under `OTHER`."""

    @property
    def kind(self) -> FeatureKind:
        return FeatureKind.TEXT

    @property
    def oov_rate(self) -> float:
        total = sum(self.vocabulary.values())
        return self.vocabulary.get(OTHER, 0) / total if total else 0.0


FeatureProfile = NumericProfile | CategoricalProfile | TextProfile


@dataclass(frozen=True, slots=True)
class Profile:
    """The reference profile of a version: its inputs' features and (when known) its outputs'."""

    inputs: dict[str, FeatureProfile]
    outputs: dict[str, FeatureProfile] = field(default_factory=dict)
    rows: int = 0
    built_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    format: int = PROFILE_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self.rows,
            "built_at": self.built_at.isoformat(),
            "inputs": {k: _feature_json(v) for k, v in self.inputs.items()},
            "outputs": {k: _feature_json(v) for k, v in self.outputs.items()},
        }

    @classmethod
    def from_json(cls, body: Any) -> Profile:
        """A profile from `to_json`'s form; anything else is INVALID_REQUEST (never a crash)."""
        try:
            return _profile(body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"not a valid profile: {exc!r}") from None


def _feature_json(feature: FeatureProfile) -> dict[str, Any]:
    return {"kind": feature.kind.value, **asdict(feature)}


def _profile(body: Any) -> Profile:
    if not isinstance(body, dict):
        raise TypeError("a profile is a JSON object")
    if body.get("format") != PROFILE_FORMAT:
        raise ValueError(f"unknown profile format {body.get('format')!r} (this berth reads {PROFILE_FORMAT})")
    built_at = datetime.fromisoformat(str(body["built_at"]))
    return Profile(
        inputs=_features(body["inputs"]),
        outputs=_features(body.get("outputs", {})),
        rows=_count(body.get("rows", 0)),
        built_at=built_at if built_at.tzinfo else built_at.replace(tzinfo=UTC),
    )


def _features(body: Any) -> dict[str, FeatureProfile]:
    if not isinstance(body, dict):
        raise TypeError("features must be an object")
    return {str(name): _feature(value) for name, value in body.items()}


def _feature(body: Any) -> FeatureProfile:
    if not isinstance(body, dict):
        raise TypeError("a feature profile is an object")
    kind = FeatureKind(body["kind"])
    if kind is FeatureKind.NUMERIC:
        return _numeric(body)
    if kind is FeatureKind.CATEGORICAL:
        return CategoricalProfile(
            count=_count(body["count"]),
            missing=_count(body["missing"]),
            distinct=_count(body["distinct"]),
            frequencies=_frequencies(body["frequencies"]),
        )
    return TextProfile(
        count=_count(body["count"]),
        missing=_count(body["missing"]),
        chars=_numeric(body["chars"]),
        tokens=_numeric(body["tokens"]),
        vocabulary=_frequencies(body["vocabulary"]),
    )


def _numeric(body: Any) -> NumericProfile:
    if not isinstance(body, dict):
        raise TypeError("a numeric profile is an object")
    edges = [_number(e) for e in body["edges"]]
    counts = [_count(c) for c in body["counts"]]
    if edges != sorted(edges) or len(counts) != len(edges) + 1:
        raise ValueError("histogram edges must be sorted, with one count more than edges")
    quantiles = {str(k): _number(v) for k, v in dict(body["quantiles"]).items()}
    return NumericProfile(
        count=_count(body["count"]),
        missing=_count(body["missing"]),
        mean=_number(body["mean"]),
        std=_number(body["std"]),
        min=_number(body["min"]),
        max=_number(body["max"]),
        quantiles=quantiles,
        edges=edges,
        counts=counts,
        reservoir=sorted(_number(v) for v in body["reservoir"]),
    )


def _frequencies(body: Any) -> dict[str, int]:
    if not isinstance(body, dict):
        raise TypeError("frequencies must be an object")
    return {str(k): _count(v) for k, v in body.items()}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value
