"""Building a reference profile from a sample: each feature's kind, then its summary.

See `berth.control.monitoring.profile` for what a profile holds and the kind rules, and
`berth.control.monitoring.sample` for how features are named.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from berth.control.monitoring.profile import (
    OTHER,
    QUANTILES,
    CategoricalProfile,
    FeatureKind,
    FeatureProfile,
    NumericProfile,
    Profile,
    ProfileConfig,
    TextProfile,
)
from berth.control.monitoring.sample import DEFAULT_INPUT_NAME, Column, sample_columns
from berth.control.monitoring.text import token_counts
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, Signature


def build_profile(
    sample: Any,
    *,
    outputs: Any = None,
    input_name: str = DEFAULT_INPUT_NAME,
    output_name: str = "predict",
    kinds: Mapping[str, FeatureKind | str] | None = None,
    config: ProfileConfig | None = None,
) -> Profile:
    """The profile of a reference sample (and of the model's outputs on it, when given).

    `input_name` / `output_name` name an unnamed array (the signature's input / output name);
    `kinds` forces a feature's kind (e.g. ``{"comment": "text"}``).
    """
    config = config or ProfileConfig()
    text_sample = (
        isinstance(sample, list | tuple) and bool(sample) and all(isinstance(v, str) for v in sample)
    )
    forced = {k: FeatureKind(v) for k, v in (kinds or {}).items()}
    columns = sample_columns(sample, input_name=input_name)
    if text_sample:
        forced.setdefault(input_name, FeatureKind.TEXT)
    profiled = _profile_columns(columns, forced, config)
    rows = len(next(iter(columns.values())))
    out: dict[str, FeatureProfile] = {}
    if outputs is not None:
        output_columns = sample_columns(outputs, input_name=output_name)
        if len(next(iter(output_columns.values()))) != rows:
            raise BerthError(ErrorCode.INVALID_REQUEST, "the outputs must have one row per sample row")
        out = _profile_columns(output_columns, forced, config)
    return Profile(inputs=profiled, outputs=out, rows=rows)


def signature_names(signature: Signature | None) -> tuple[str, str]:
    """The names an unnamed input array and an unnamed output array take under `signature` (its one
    tensor input's name, its first default output), as `build_profile`'s `input_name` / `output_name`."""
    if signature is None:
        return DEFAULT_INPUT_NAME, "predict"
    single = signature.layout is InputLayout.TENSOR and len(signature.inputs) == 1
    outputs = signature.default_outputs or tuple(s.name for s in signature.outputs) or ("predict",)
    return (signature.inputs[0].name if single else DEFAULT_INPUT_NAME), outputs[0]


def build_version_profile(sample: Any, signature: Signature | None, *, outputs: Any = None) -> Profile:
    """The profile of a reference sample for a version with this signature (see `signature_names`)."""
    input_name, output_name = signature_names(signature)
    return build_profile(sample, outputs=outputs, input_name=input_name, output_name=output_name)


def _profile_columns(
    columns: Mapping[str, Column], forced: Mapping[str, FeatureKind], config: ProfileConfig
) -> dict[str, FeatureProfile]:
    per_feature = max(50, min(2_000, config.reservoir_budget // max(1, len(columns))))
    profiles: dict[str, FeatureProfile] = {}
    for name, column in columns.items():
        kind = forced.get(name) or infer_kind(column, config)
        if kind is FeatureKind.NUMERIC:
            profiles[name] = numeric_profile(_numbers(name, column), config, per_feature)
        elif kind is FeatureKind.CATEGORICAL:
            profiles[name] = categorical_profile(category_keys(column), config)
        else:
            profiles[name] = text_profile(_texts(column), config, per_feature)
    return profiles


def infer_kind(column: Column, config: ProfileConfig) -> FeatureKind:
    if column.dtype.kind == "b":
        return FeatureKind.CATEGORICAL
    if column.dtype.kind == "i":
        distinct = len(np.unique(column))
        return FeatureKind.CATEGORICAL if distinct <= config.max_int_categories else FeatureKind.NUMERIC
    if column.dtype.kind == "f":
        return FeatureKind.NUMERIC
    distinct = len({v for v in column if v})
    return FeatureKind.CATEGORICAL if distinct <= config.max_categories else FeatureKind.TEXT


def category_key(value: Any) -> str | None:
    """The category a value counts as: strings as they are, booleans as ``true``/``false``,
    integral numbers without a decimal point (``1.0`` and ``1`` are ``"1"``); None when missing."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def category_keys(values: Any) -> list[str | None]:
    return [category_key(v) for v in values]


def numeric_profile(values: Column, config: ProfileConfig, reservoir: int) -> NumericProfile:
    with np.errstate(all="ignore"):  # huge values overflow the mean or std: they become 0, below
        return _numeric_profile(values, config, reservoir)


def _numeric_profile(values: Column, config: ProfileConfig, reservoir: int) -> NumericProfile:
    present = values[np.isfinite(values)]
    missing = int(len(values) - len(present))
    if not len(present):
        return NumericProfile(0, missing, 0.0, 0.0, 0.0, 0.0, {str(q): 0.0 for q in QUANTILES}, [], [0], [])
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, config.bins + 1)))
    edges = edges[np.isfinite(edges)]
    rng = np.random.default_rng(config.seed)
    kept = present if len(present) <= reservoir else rng.choice(present, size=reservoir, replace=False)
    return NumericProfile(
        count=len(present),
        missing=missing,
        mean=_finite(float(np.mean(present))),
        std=_finite(float(np.std(present))),
        min=float(present.min()),
        max=float(present.max()),
        quantiles={
            str(q): _finite(float(v)) for q, v in zip(QUANTILES, np.quantile(present, QUANTILES), strict=True)
        },
        edges=[float(e) for e in edges],
        counts=[int(c) for c in bin_counts(edges, present)],
        reservoir=[float(f"{v:.7g}") for v in np.sort(kept)],  # 7 digits: half the JSON
    )


def bin_counts(edges: np.ndarray[Any, np.dtype[np.float64]], values: Column) -> np.ndarray[Any, Any]:
    """Counts of `values` in a profile's bins (see `NumericProfile.edges`), len(edges) + 1 of them."""
    index = np.searchsorted(edges, values, side="right")
    if len(edges):
        index[values == edges[-1]] = len(edges) - 1  # the maximum closes the last bin
    return np.bincount(index, minlength=len(edges) + 1)


def categorical_profile(keys: list[str | None], config: ProfileConfig) -> CategoricalProfile:
    counts = Counter(k for k in keys if k is not None)
    present = sum(counts.values())
    return CategoricalProfile(
        count=present,
        missing=len(keys) - present,
        distinct=len(counts),
        frequencies=_top(counts, config.top_categories),
    )


def text_profile(texts: list[str | None], config: ProfileConfig, reservoir: int) -> TextProfile:
    present = [t for t in texts if t]
    counts, chars, lengths = token_counts(present)
    return TextProfile(
        count=len(present),
        missing=len(texts) - len(present),
        chars=numeric_profile(np.asarray(chars, dtype=np.float64), config, reservoir),
        tokens=numeric_profile(np.asarray(lengths, dtype=np.float64), config, reservoir),
        vocabulary=_top(counts, config.top_tokens),
    )


def _top(counts: Counter[str], n: int) -> dict[str, int]:
    top = dict(counts.most_common(n))
    other = sum(counts.values()) - sum(top.values())
    if other or OTHER in top:
        top[OTHER] = top.get(OTHER, 0) + other
    return top


def _numbers(name: str, column: Column) -> Column:
    if column.dtype.kind in "biuf":
        return column.astype(np.float64)
    raise BerthError(ErrorCode.INVALID_REQUEST, f"feature {name!r} is not numeric")


def _texts(column: Column) -> list[str | None]:
    return [None if v is None else str(v) for v in column]


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
