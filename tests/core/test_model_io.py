"""Tensors -> model input (names, casts, shapes, batch, NaN) and model output -> tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from berth.core.codecs.model_io import batch_size, to_model_input, to_output_tensors
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import numpy_dtype
from berth.core.signature import InputLayout, Signature, TensorSpec
from berth.core.tensors import Tensor


def t(name: str, data: Any, datatype: str | None = None) -> Tensor:
    array = np.asarray(data)
    if array.dtype.kind == "U":
        array = array.astype(object)
    names = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "O": "BYTES"}
    return Tensor(name, datatype or names[array.dtype.kind], array.shape, array)


def sig(
    *inputs: TensorSpec, layout: InputLayout = InputLayout.TENSOR, outputs: tuple[TensorSpec, ...] = ()
) -> Signature:
    return Signature(inputs=inputs, outputs=outputs, layout=layout)


FEATURES = sig(TensorSpec("input-0", "FP32", (-1, 3)))
TABLE = sig(
    TensorSpec("age", "INT64", (-1,)),
    TensorSpec("city", "BYTES", (-1,)),
    TensorSpec("score", "FP64", (-1,), allow_nan=True),
    layout=InputLayout.COLUMNS,
)
GRAPH = sig(
    TensorSpec("ids", "INT32", (-1, 4)), TensorSpec("mask", "BOOL", (-1, 4)), layout=InputLayout.TENSORS
)


def code_of(inputs: list[Tensor], signature: Signature) -> BerthError:
    with pytest.raises(BerthError) as caught:
        to_model_input(inputs, signature)
    return caught.value


def test_tensor_layout_gives_the_array() -> None:
    data = np.ones((2, 3), dtype=np.float32)
    result = to_model_input([t("input-0", data, "FP32")], FEATURES)
    assert isinstance(result, np.ndarray)
    assert result is data  # no copy when nothing changes


def test_columns_layout_gives_a_frame_in_signature_order() -> None:
    inputs = [t("score", [0.5, np.nan]), t("city", ["a", "b"]), t("age", [[30], [40]])]
    frame = to_model_input(inputs, TABLE)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["age", "city", "score"]
    assert frame["age"].tolist() == [30, 40]
    assert frame["city"].tolist() == ["a", "b"]


def test_tensors_layout_gives_a_dict() -> None:
    result = to_model_input([t("mask", np.ones((1, 4), bool)), t("ids", np.zeros((1, 4), np.int64))], GRAPH)
    assert isinstance(result, dict)
    assert list(result) == ["ids", "mask"]
    assert result["ids"].dtype == np.int32


@pytest.mark.parametrize(
    ("names", "words"),
    [(["age", "city"], ["missing", "score"]), (["age", "city", "score", "zip"], ["unknown", "zip"]),
     (["age", "age", "city", "score"], ["duplicate"])],
)  # fmt: skip
def test_names_must_match_the_signature(names: list[str], words: list[str]) -> None:
    error = code_of([t(n, [1]) for n in names], TABLE)
    assert error.code is ErrorCode.SIGNATURE_MISMATCH
    assert all(w in error.message for w in words)


@pytest.mark.parametrize(
    ("source", "target"),
    [("INT64", "FP32"), ("UINT8", "FP16"), ("BOOL", "FP64"), ("FP64", "FP32"), ("FP16", "FP64"),
     ("INT64", "INT32"), ("INT8", "INT64"), ("UINT32", "INT64"), ("INT64", "UINT8"), ("BOOL", "INT8")],
)  # fmt: skip
def test_lossless_in_kind_casts_are_made(source: str, target: str) -> None:
    data = np.array([1, 0], dtype=numpy_dtype(source))
    result = to_model_input([Tensor("x", source, (2,), data)], sig(TensorSpec("x", target, (-1,))))
    assert isinstance(result, np.ndarray)
    assert result.dtype == numpy_dtype(target)
    assert result.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("data", "source", "target"),
    [(["a"], "BYTES", "FP32"), ([1.0], "FP64", "INT64"), ([1], "INT64", "BOOL"), ([1], "INT64", "BYTES"),
     ([True], "BOOL", "BYTES"), ([0.0], "FP32", "BOOL")],
)  # fmt: skip
def test_casts_that_could_change_values_are_refused(data: list[Any], source: str, target: str) -> None:
    error = code_of([t("x", data, source)], sig(TensorSpec("x", target, (-1,))))
    assert error.code is ErrorCode.SIGNATURE_MISMATCH
    assert all(w in error.message for w in ("'x'", source, target))


@pytest.mark.parametrize(
    ("data", "target"), [([300], "UINT8"), ([-1], "UINT32"), ([2**40], "INT32"), ([1e300], "FP32")]
)
def test_values_outside_the_target_range_are_invalid_tensor(data: list[Any], target: str) -> None:
    error = code_of([t("x", data)], sig(TensorSpec("x", target, (-1,), allow_nan=True)))
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "'x'" in error.message


def test_shapes_must_match_every_fixed_dimension() -> None:
    assert code_of([t("input-0", np.ones((2, 4)))], FEATURES).code is ErrorCode.SIGNATURE_MISMATCH
    assert code_of([t("input-0", np.ones(3))], FEATURES).code is ErrorCode.SIGNATURE_MISMATCH
    assert code_of([t("input-0", np.ones((1, 1, 3)))], FEATURES).code is ErrorCode.SIGNATURE_MISMATCH
    wide = [t("age", [[1, 2]]), t("city", ["a"]), t("score", [1.0])]
    assert code_of(wide, TABLE).code is ErrorCode.SIGNATURE_MISMATCH


def test_inputs_must_agree_on_the_batch_size() -> None:
    error = code_of([t("age", [1, 2]), t("city", ["a"]), t("score", [1.0, 2.0])], TABLE)
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "batch" in error.message


def test_an_empty_batch_is_refused() -> None:
    assert code_of([t("input-0", np.ones((0, 3)))], FEATURES).code is ErrorCode.EMPTY_BATCH
    assert (
        code_of(
            [t("age", np.zeros(0, np.int64)), t("city", np.zeros(0, object)), t("score", np.zeros(0))], TABLE
        ).code
        is ErrorCode.EMPTY_BATCH
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_are_refused_unless_the_spec_allows_nan(bad: float) -> None:
    error = code_of([t("input-0", [[1.0, bad, 2.0]])], FEATURES)
    assert error.code is ErrorCode.NAN_NOT_ALLOWED
    assert "'input-0'" in error.message
    lenient = sig(TensorSpec("input-0", "FP32", (-1, 3), allow_nan=True))
    assert np.isnan(to_model_input([t("input-0", [[1.0, np.nan, 2.0]])], lenient)).any()


def test_output_tensors_follow_the_requested_names() -> None:
    signature = sig(
        TensorSpec("x", "FP32", (-1,)),
        outputs=(TensorSpec("label", "BYTES", (-1,)), TensorSpec("p", "FP32", (-1, 2))),
    )
    raw = {"p": np.zeros((2, 2), np.float32), "label": np.array(["a", "b"]), "extra": np.float64(3.0)}
    label, p = to_output_tensors(raw, ["label", "p"], signature)
    assert (label.name, label.datatype, label.shape, label.data.dtype) == ("label", "BYTES", (2,), object)
    assert (p.datatype, p.shape) == ("FP32", (2, 2))
    (extra,) = to_output_tensors(raw, ["extra"], signature)
    assert (extra.datatype, extra.shape) == ("FP64", (1,))
    assert [o.name for o in to_output_tensors(raw, [], signature)] == ["label", "p"]
    no_outputs = sig(TensorSpec("x", "FP32", (-1,)))
    assert [o.name for o in to_output_tensors(raw, (), no_outputs)] == ["p", "label", "extra"]


def test_an_unknown_output_lists_the_available_ones() -> None:
    with pytest.raises(BerthError) as caught:
        to_output_tensors({"p": np.zeros(1)}, ["q"], FEATURES)
    assert caught.value.code is ErrorCode.OUTPUT_NOT_FOUND
    assert "'q'" in caught.value.message
    assert "['p']" in caught.value.message


def test_object_outputs_of_numbers_become_numeric_and_others_fail() -> None:
    (labels,) = to_output_tensors({"y": np.array([1, 2], dtype=object)}, ["y"], FEATURES)
    assert labels.datatype == "INT64"
    with pytest.raises(BerthError) as caught:
        to_output_tensors({"y": np.array([{"a": 1}], dtype=object)}, ["y"], FEATURES)
    assert caught.value.code is ErrorCode.PREDICTION_FAILED
    with pytest.raises(BerthError) as caught:
        to_output_tensors({"y": np.array([1 + 2j])}, ["y"], FEATURES)
    assert caught.value.code is ErrorCode.UNSUPPORTED_DATATYPE


def test_batch_size() -> None:
    assert batch_size([t("a", np.zeros((4, 2)))]) == 4
    assert batch_size([t("a", np.float64(1.0)), t("b", [1, 2])]) == 2
    assert batch_size([t("a", np.float64(1.0))]) == 1
    assert batch_size([]) == 0
