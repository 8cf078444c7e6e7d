"""Frame: columns with a common row axis; conversions from and to tensors."""

from __future__ import annotations

import numpy as np
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import Tensor
from berth.runtime.pipeline import Frame, frame_from_tensors, frame_to_tensors

from .helpers import frame


def test_a_frame_keeps_its_order_and_counts_rows() -> None:
    data = frame(b=[1, 2], a=["x", "y"], p=np.zeros((2, 3)))
    assert data.names == ("b", "a", "p")
    assert data.rows == 2
    assert len(data) == 3
    assert "a" in data
    assert "2 rows" in repr(data)


def test_columns_must_agree_on_rows() -> None:
    with pytest.raises(BerthError) as caught:
        Frame({"a": np.zeros(2), "b": np.zeros(3)})
    assert caught.value.code is ErrorCode.INVALID_TENSOR


def test_a_scalar_is_not_a_column() -> None:
    with pytest.raises(BerthError):
        Frame({"a": np.float64(1.0)})  # type: ignore[dict-item]


def test_a_frame_without_columns_keeps_its_rows() -> None:
    assert Frame({}, 4).rows == 4
    assert frame(a=[1, 2, 3]).select([]).rows == 3


def test_helpers_return_new_frames() -> None:
    data = frame(a=[1, 2], b=[3, 4])
    wider = data.with_columns({"c": np.array([5, 6]), "a": np.array([0, 0])})
    assert wider.names == ("a", "b", "c")
    assert wider["a"].tolist() == [0, 0]
    assert data["a"].tolist() == [1, 2]
    assert data.select(["b"]).names == ("b",)
    assert data.drop(["a", "zzz"]).names == ("b",)
    assert data.rename({"a": "z"}).names == ("z", "b")


def test_tensors_become_columns_and_back() -> None:
    tensors = [
        Tensor("text", "BYTES", (2,), np.array(["a", "b"], dtype=object)),
        Tensor("x", "FP32", (2, 3), np.zeros((2, 3), dtype=np.float32)),
        Tensor("n", "INT64", (2,), np.array([1, 2])),
        Tensor("ok", "BOOL", (2,), np.array([True, False])),
    ]
    back = frame_to_tensors(frame_from_tensors(tensors))
    assert [(t.name, t.datatype, t.shape) for t in back] == [(t.name, t.datatype, t.shape) for t in tensors]


def test_duplicate_tensors_are_refused() -> None:
    tensor = Tensor("a", "INT64", (1,), np.array([1]))
    with pytest.raises(BerthError) as caught:
        frame_from_tensors([tensor, tensor])
    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_tensors_disagreeing_on_rows_are_refused() -> None:
    tensors = [Tensor("a", "INT64", (1,), np.array([1])), Tensor("b", "INT64", (2,), np.array([1, 2]))]
    with pytest.raises(BerthError) as caught:
        frame_from_tensors(tensors)
    assert caught.value.code is ErrorCode.INVALID_TENSOR


def test_object_columns_are_settled_when_sent() -> None:
    data = Frame(
        {
            "text": np.array(["a", None], dtype=object),
            "num": np.array([1.5, None], dtype=object),
            "fixed": np.array(["a", "bc"]),
        }
    )
    text, num, fixed = frame_to_tensors(data)
    assert (text.datatype, text.data.tolist()) == ("BYTES", ["a", ""])
    assert num.datatype == "FP64"
    assert num.data[0] == 1.5
    assert np.isnan(num.data[1])
    assert (fixed.datatype, fixed.data.dtype.kind) == ("BYTES", "O")


def test_a_column_mixing_kinds_cannot_be_sent() -> None:
    data = Frame({"mixed": np.array([True, None], dtype=object)})
    with pytest.raises(BerthError) as caught:
        frame_to_tensors(data)
    assert caught.value.code is ErrorCode.PIPELINE_STEP_FAILED
    assert "'mixed'" in caught.value.message
