"""TF-Serving and MLflow JSON bodies -> tensors, and v1 responses."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from berth.core.codecs.model_io import to_model_input
from berth.core.codecs.v1_json import decode_v1_request, encode_v1_response
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, Signature, TensorSpec
from berth.core.tensors import Tensor

FEATURES = Signature(inputs=(TensorSpec("input-0", "FP32", (-1, 3)),), outputs=())
TEXT = Signature(inputs=(TensorSpec("text", "BYTES", (-1,)),), outputs=())
TABLE = Signature(
    inputs=(TensorSpec("age", "INT64", (-1,)), TensorSpec("city", "BYTES", (-1,))),
    outputs=(),
    layout=InputLayout.COLUMNS,
)
GRAPH = Signature(
    inputs=(TensorSpec("ids", "INT64", (-1, 2)), TensorSpec("mask", "BOOL", (-1, 2))),
    outputs=(),
    layout=InputLayout.TENSORS,
)


def decode(doc: Any, signature: Signature) -> dict[str, np.ndarray]:
    tensors = decode_v1_request(orjson.dumps(doc), signature).inputs
    return {t.name: t.data for t in tensors}


def error_of(doc: Any, signature: Signature) -> BerthError:
    with pytest.raises(BerthError) as caught:
        decode_v1_request(orjson.dumps(doc), signature)
    return caught.value


ROWS = [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": ROWS},
        {"instances": [{"input-0": r} for r in ROWS]},
        {"inputs": ROWS},
        {"inputs": {"input-0": ROWS}},
        {"dataframe_split": {"columns": ["a", "b", "c"], "data": ROWS, "index": [0, 1]}},
        {"dataframe_split": {"data": ROWS}},
        {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]},
        {"instances": ROWS, "signature_name": "serving_default"},
    ],
)
def test_every_format_gives_the_one_tensor(doc: Any) -> None:
    tensors = decode_v1_request(orjson.dumps(doc), FEATURES).inputs
    assert [(x.name, x.datatype, x.shape) for x in tensors] == [("input-0", "FP32", (2, 3))]
    np.testing.assert_array_equal(tensors[0].data, ROWS)
    assert tensors[0].data.dtype == np.float32


def test_a_single_column_named_after_the_input_is_one_dimensional() -> None:
    got = decode({"dataframe_split": {"columns": ["text"], "data": [["hi"], ["yo"]]}}, TEXT)
    assert got["text"].tolist() == ["hi", "yo"]
    assert decode({"instances": ["hi", "yo"]}, TEXT)["text"].tolist() == ["hi", "yo"]
    assert decode({"dataframe_records": [{"text": "hi"}]}, TEXT)["text"].shape == (1,)


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": [{"age": 30, "city": "a"}, {"age": 40, "city": "b"}]},
        {"instances": [[30, "a"], [40, "b"]]},
        {"inputs": {"age": [30, 40], "city": ["a", "b"]}},
        {"dataframe_split": {"columns": ["age", "city"], "data": [[30, "a"], [40, "b"]]}},
        {"dataframe_split": {"data": [[30, "a"], [40, "b"]]}},
        {"dataframe_records": [{"city": "a", "age": 30}, {"city": "b", "age": 40}]},
    ],
)
def test_every_format_gives_the_columns(doc: Any) -> None:
    got = decode(doc, TABLE)
    assert got["age"].tolist() == [30, 40]
    assert got["age"].dtype == np.int64
    assert got["city"].tolist() == ["a", "b"]


def test_named_instances_stack_per_input() -> None:
    doc = {"instances": [{"ids": [1, 2], "mask": [True, False]}, {"ids": [3, 4], "mask": [True, True]}]}
    got = decode(doc, GRAPH)
    assert got["ids"].shape == (2, 2)
    assert got["mask"].dtype == np.bool_


def test_unnamed_rows_for_several_tensors_are_refused() -> None:
    error = error_of({"instances": [[1, 2]]}, GRAPH)
    assert error.code is ErrorCode.INVALID_REQUEST
    assert "ids" in error.message


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"instances": [1], "inputs": [1]},
        {"data": [1]},
        {"instances": [1], "params": {}},
        {"instances": {"a": 1}},
        {"instances": [{"age": 1, "city": "a"}, [1, "b"]]},
        {"dataframe_split": [[1]]},
        {"dataframe_split": {"columns": "age", "data": []}},
        {"dataframe_split": {"columns": ["age", "city"], "data": [[1]]}},
        {"dataframe_split": {"columns": ["age", "age"], "data": [[1, 2]]}},
        {"dataframe_records": []},
        {"dataframe_records": [{"age": 1, "city": "a"}, {"age": 2}]},
        {"instances": [[1, "a", 3]]},
    ],
)
def test_malformed_bodies_are_invalid_request(doc: Any) -> None:
    error = error_of(doc, TABLE)
    assert error.code is ErrorCode.INVALID_REQUEST


def test_the_accepted_keys_are_listed() -> None:
    message = error_of({"data": []}, TABLE).message
    assert all(k in message for k in ("instances", "inputs", "dataframe_split", "dataframe_records"))


def test_values_follow_the_oip_rules() -> None:
    assert error_of({"inputs": {"age": [1.5], "city": ["a"]}}, TABLE).code is ErrorCode.INVALID_TENSOR
    assert error_of({"inputs": {"age": [1], "city": [2]}}, TABLE).code is ErrorCode.INVALID_TENSOR
    nan = decode({"instances": [[None, "NaN", 1]]}, FEATURES)["input-0"]
    assert np.isnan(nan[0, :2]).all()
    with pytest.raises(BerthError) as caught:
        decode_v1_request(b"nope", TABLE)
    assert caught.value.code is ErrorCode.INVALID_JSON


def test_unknown_names_reach_the_signature_check() -> None:
    tensors = decode_v1_request(orjson.dumps({"inputs": {"age": [1], "town": ["a"]}}), TABLE).inputs
    assert [t.datatype for t in tensors] == ["INT64", "BYTES"]
    with pytest.raises(BerthError) as caught:
        to_model_input(tensors, TABLE)
    assert caught.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert "town" in caught.value.message


def test_styles() -> None:
    assert decode_v1_request(b'{"instances": [[1,2,3]]}', FEATURES).style == "tf"
    assert decode_v1_request(b'{"inputs": [[1,2,3]]}', FEATURES).style == "tf-columnar"
    assert decode_v1_request(b'{"dataframe_split": {"data": [[1,2,3]]}}', FEATURES).style == "mlflow"


def tensor(name: str, data: Any) -> Tensor:
    array = np.asarray(data)
    return Tensor(name, "FP64", array.shape, array)


def test_one_output_answers_its_rows() -> None:
    body = encode_v1_response([tensor("p", [[0.5, 0.5], [1.0, np.nan]])], "tf")
    assert orjson.loads(body) == {"predictions": [[0.5, 0.5], [1.0, None]]}
    assert orjson.loads(encode_v1_response([tensor("p", [1.0])], "mlflow")) == {"predictions": [1.0]}


def test_several_outputs_answer_an_object_per_row() -> None:
    labels = Tensor("label", "BYTES", (2,), np.array(["a", b"b"], dtype=object))
    body = encode_v1_response([labels, tensor("p", [0.1, 0.9])], "mlflow")
    assert orjson.loads(body) == {"predictions": [{"label": "a", "p": 0.1}, {"label": "b", "p": 0.9}]}
    with pytest.raises(BerthError):
        encode_v1_response([labels, tensor("p", [0.1])], "tf")


def test_columnar_style_answers_outputs() -> None:
    assert orjson.loads(encode_v1_response([tensor("p", [1.0])], "tf-columnar")) == {"outputs": [1.0]}
    both = encode_v1_response([tensor("p", [1.0]), tensor("q", [2.0])], "tf-columnar")
    assert orjson.loads(both) == {"outputs": {"p": [1.0], "q": [2.0]}}


def test_untyped_values_keep_the_types_json_gives_them_and_rows_take_the_signature_s_names() -> None:
    """``typed=False`` (an endpoint, whose variants may type `age` as FP64 or INT64): an integer
    stays an integer, which a float input takes too; unnamed rows are named by the signature."""
    floats = Signature(
        inputs=(TensorSpec("age", "FP64", (-1,)), TensorSpec("city", "BYTES", (-1,))),
        outputs=(),
        layout=InputLayout.COLUMNS,
    )
    for body in (b'{"dataframe_records": [{"age": 41, "city": "Oslo"}]}', b'{"instances": [[41, "Oslo"]]}'):
        tensors = decode_v1_request(body, floats, typed=False).inputs
        assert [(t.name, t.datatype) for t in tensors] == [("age", "INT64"), ("city", "BYTES")]
        for signature in (floats, TABLE):
            model_input = to_model_input(tensors, signature)
            assert model_input["age"].tolist() == [41]
    typed = decode_v1_request(b'{"instances": [[41, "Oslo"]]}', floats).inputs
    assert typed[0].datatype == "FP64"
