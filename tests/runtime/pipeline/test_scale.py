"""The scale pre-step: stored parameters, validated; vectorised."""

from __future__ import annotations

import math

import numpy as np
import pytest

from berth.runtime.pipeline import Frame

from .helpers import fails, frame, invalid, pre


def scale(columns: dict[str, object]) -> list[dict[str, object]]:
    return [{"type": "scale", "columns": columns}]


def test_standard_and_minmax_scaling() -> None:
    data = frame(age=[30, 50], balance=[0.0, 250.0])
    result = pre(
        scale(
            {
                "age": {"method": "standard", "mean": 40, "std": 10},
                "balance": {"method": "minmax", "min": 0, "max": 1000},
            }
        ),
        data,
    )
    assert result["age"].tolist() == [-1.0, 1.0]
    assert result["age"].dtype == np.float64
    assert result["balance"].tolist() == [0.0, 0.25]


def test_float32_stays_float32_and_nan_stays_nan() -> None:
    data = Frame({"x": np.array([1.0, np.nan], dtype=np.float32)})
    result = pre(scale({"x": {"method": "standard", "mean": 1, "std": 2}}), data)
    assert result["x"].dtype == np.float32
    assert result["x"][0] == 0.0
    assert np.isnan(result["x"][1])


def test_a_2d_column_is_scaled_elementwise() -> None:
    data = Frame({"x": np.array([[0.0, 10.0]])})
    result = pre(scale({"x": {"method": "minmax", "min": 0, "max": 10}}), data)
    assert result["x"].tolist() == [[0.0, 1.0]]


def test_text_and_missing_columns_fail() -> None:
    spec = scale({"x": {"method": "standard", "mean": 0, "std": 1}})
    fails(lambda: pre(spec, frame(x=["a"])), "pre[0] (scale)", "not numbers")
    fails(lambda: pre(spec, frame(y=[1])), "no column 'x'")
    fails(lambda: pre(spec, Frame({"x": np.array([True])})), "not numbers")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "standard", "mean": 0, "std": 0}, "std must be > 0"),
        ({"method": "standard", "mean": 0, "std": -1}, "std must be > 0"),
        ({"method": "standard", "mean": math.nan, "std": 1}, "'mean' must be a finite number"),
        ({"method": "standard", "mean": 0}, "missing key 'std'"),
        ({"method": "standard", "mean": "0", "std": 1}, "'mean' must be a finite number"),
        ({"method": "standard", "mean": True, "std": 1}, "'mean' must be a finite number"),
        ({"method": "minmax", "min": 1, "max": 1}, "max must be > min"),
        ({"method": "minmax", "min": -1e308, "max": 1e308}, "max must be > min"),
        ({"method": "minmax", "min": 0, "max": 1, "std": 1}, "unknown keys ['std']"),
        ({"method": "log"}, "'standard' or 'minmax'"),
        ("standard", "must be an object"),
    ],
)
def test_scale_spec_errors(params: object, message: str) -> None:
    invalid({"pre": scale({"x": params})}, "pre[0] (scale)", message)
