"""Current features from recorded tensors: the profile's names, batches, bad records skipped."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from berth.control.monitoring.features import current_features
from berth.control.monitoring.profiling import build_profile
from tests.control.monitoring.helpers import records_of, tensors_of


def test_frame_records_give_the_features_their_profile_names() -> None:
    frame = pd.DataFrame(
        {"age": [30, 41, 52, 23], "job": ["a", "b", "a", "c"], "ratio": [0.1, 0.2, 0.3, 0.4]}
    )

    found = current_features(records_of(frame, rows_per_record=3))

    assert set(found.columns) == set(build_profile(frame).inputs)
    assert found.records == 2
    assert found.columns["age"].tolist() == [30.0, 41.0, 52.0, 23.0]
    assert found.columns["job"].tolist() == ["a", "b", "a", "c"]


def test_array_records_split_into_indexed_features() -> None:
    array = np.arange(12.0).reshape(4, 3)
    records = [{"x": t["input-0"]} for t in (tensors_of(array[:1]), tensors_of(array[1:]))]

    found = current_features(records)

    assert set(found.columns) == set(build_profile(array, input_name="x").inputs)
    assert found.columns["x[2]"].tolist() == [2.0, 5.0, 8.0, 11.0]


def test_malformed_records_are_skipped_and_counted() -> None:
    good: dict[str, Any] = {"x": {"datatype": "FP64", "shape": [1, 2], "data": [1.0, 2.0]}}
    records: list[Any] = [
        good,
        good,
        good,
        {"x": {"datatype": "FP64", "shape": [1, 3], "data": [1.0, 2.0, 3.0]}},  # another width
        {"x": {"datatype": "FP64", "shape": [1, 2], "data": [1.0]}},  # data shorter than shape
        {"x": {"datatype": "FP64", "shape": "bad", "data": [1.0, 2.0]}},
        {"x": None},
        {"y": {"datatype": "FP64", "shape": [1], "data": ["text", None]}},
        "not a record",
    ]

    found = current_features(records)

    assert found.columns["x[0]"].tolist() == [1.0, 1.0, 1.0]
    assert found.skipped == {"x": 4, "y": 1}  # records without the tensor are not counted
    assert found.records == 8
    assert "y" not in found.columns


def test_no_records_no_features() -> None:
    found = current_features([])

    assert (found.columns, found.records) == ({}, 0)


def test_a_million_rows_of_records_are_read_at_once() -> None:
    records = [{"x": {"datatype": "FP32", "shape": [1, 2], "data": [float(i), 1.0]}} for i in range(20_000)]

    found = current_features(records)

    assert found.columns["x[0]"].shape == (20_000,)
    assert found.columns["x[0]"][-1] == 19_999.0
