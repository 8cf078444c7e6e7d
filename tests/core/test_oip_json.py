"""OIP V2 REST JSON: every structural rule, every value rule, every error code."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest

from berth.core.codecs.oip_json import (
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import InferenceRequest, InferenceResponse, RequestedOutput, Tensor


def body(*inputs: dict[str, Any], **top: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **top})


def tensor(
    data: Any, shape: list[int], datatype: str = "FP32", name: str = "x", **extra: Any
) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data, **extra}


def decode_one(data: Any, shape: list[int], datatype: str = "FP32", **extra: Any) -> np.ndarray:
    return decode_infer_request(body(tensor(data, shape, datatype, **extra))).inputs[0].data


def error_of(raw: bytes) -> BerthError:
    with pytest.raises(BerthError) as caught:
        decode_infer_request(raw)
    return caught.value


# -- structure ------------------------------------------------------------------------------------


def test_decodes_a_full_request() -> None:
    request = decode_infer_request(
        body(
            tensor([1, 2, 3, 4], [2, 2], "FP32"),
            tensor(["a", "b"], [2], "BYTES", name="s", parameters={"k": 1}),
            id="r1",
            parameters={"trace": True},
            outputs=[{"name": "y"}, {"name": "z", "parameters": {"binary_data": False}}],
        )
    )
    x, s = request.inputs
    assert (x.name, x.datatype, x.shape, x.data.dtype) == ("x", "FP32", (2, 2), np.float32)
    np.testing.assert_array_equal(x.data, [[1, 2], [3, 4]])
    assert s.data.dtype == object
    assert s.data.tolist() == ["a", "b"]
    assert s.parameters == {"k": 1}
    assert request.id == "r1"
    assert request.parameters == {"trace": True}
    assert request.outputs == [RequestedOutput("y"), RequestedOutput("z", {"binary_data": False})]


def test_optional_fields_may_be_absent_or_null() -> None:
    request = decode_infer_request(
        body(tensor([1.0], [1], parameters=None), id=None, outputs=None, parameters=None)
    )
    assert (request.id, request.outputs, request.parameters) == (None, None, {})
    assert request.inputs[0].parameters == {}


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe", b"[1e400]", b"{'a': 1}", b"NaN"])
def test_unparseable_bodies_are_invalid_json(raw: bytes) -> None:
    assert error_of(raw).code is ErrorCode.INVALID_JSON


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"inputs"', b"null", b"true"])
def test_non_object_bodies_are_invalid_json(raw: bytes) -> None:
    assert error_of(raw).code is ErrorCode.INVALID_JSON


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"inputs": []},
        {"inputs": {}},
        {"inputs": [1]},
        {"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]},
        {"inputs": [tensor([1], [1], name="")]},
        {"inputs": [tensor([1], [1], name=3)]},  # type: ignore[arg-type]
        {"inputs": [tensor([1], "1")]},  # type: ignore[arg-type]
        {"inputs": [tensor([1], [-1])]},
        {"inputs": [tensor([1], [1.0])]},  # type: ignore[list-item]
        {"inputs": [tensor([1], [True])]},  # type: ignore[list-item]
        {"inputs": [tensor([1], [1], 32)]},  # type: ignore[arg-type]
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]},
        {"inputs": [tensor(1, [1])]},
        {"inputs": [tensor([1], [1], parameters=[])]},
        {"inputs": [tensor([1], [1])], "id": 5},
        {"inputs": [tensor([1], [1])], "parameters": "x"},
        {"inputs": [tensor([1], [1])], "outputs": {"name": "y"}},
        {"inputs": [tensor([1], [1])], "outputs": [{"name": ""}]},
        {"inputs": [tensor([1], [1])], "outputs": ["y"]},
        {"inputs": [tensor([1], [1])], "outputs": [{"name": "y", "parameters": 1}]},
        {"inputs": [tensor([1], [1])], "outputs": [{"name": "y"}, {"name": "y"}]},
    ],
)
def test_structural_problems_are_invalid_request(doc: dict[str, Any]) -> None:
    assert error_of(orjson.dumps(doc)).code is ErrorCode.INVALID_REQUEST


def test_duplicate_input_names_are_invalid_request() -> None:
    error = error_of(body(tensor([1], [1]), tensor([2], [1])))
    assert error.code is ErrorCode.INVALID_REQUEST
    assert "'x'" in error.message


def test_unknown_datatype_is_unsupported_and_names_the_input() -> None:
    error = error_of(body(tensor([1], [1], "FLOAT32", name="age")))
    assert error.code is ErrorCode.UNSUPPORTED_DATATYPE
    assert "'age'" in error.message


# -- data and shape -------------------------------------------------------------------------------


def test_flat_data_is_row_major() -> None:
    np.testing.assert_array_equal(decode_one([1, 2, 3, 4, 5, 6], [2, 3], "INT32"), [[1, 2, 3], [4, 5, 6]])


def test_nested_data_must_match_the_shape() -> None:
    np.testing.assert_array_equal(decode_one([[1, 2], [3, 4]], [2, 2]), [[1, 2], [3, 4]])
    error = error_of(body(tensor([[1, 2], [3, 4]], [4])))
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "'x'" in error.message


@pytest.mark.parametrize(
    ("data", "shape"),
    [([1, 2, 3], [2, 2]), ([1], [0]), ([], [1]), ([[1, 2], [3]], [2, 2]), ([[1, 2]], [1, 3])],
)
def test_data_that_does_not_fill_the_shape_is_invalid_tensor(data: Any, shape: list[int]) -> None:
    error = error_of(body(tensor(data, shape, name="feat")))
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "'feat'" in error.message


def test_empty_and_scalar_tensors() -> None:
    assert decode_one([], [0, 3]).shape == (0, 3)
    assert decode_one([[], []], [2, 0], "BYTES").shape == (2, 0)
    scalar = decode_one([7], [], "INT64")
    assert scalar.shape == ()
    assert int(scalar) == 7


def test_too_many_dimensions_is_invalid_tensor() -> None:
    assert error_of(body(tensor([1], [1] * 70))).code is ErrorCode.INVALID_TENSOR


@pytest.mark.parametrize(
    ("datatype", "dtype"),
    [("BOOL", np.bool_), ("UINT8", np.uint8), ("UINT16", np.uint16), ("UINT32", np.uint32),
     ("UINT64", np.uint64), ("INT8", np.int8), ("INT16", np.int16), ("INT32", np.int32),
     ("INT64", np.int64), ("FP16", np.float16), ("FP32", np.float32), ("FP64", np.float64)],
)  # fmt: skip
def test_every_numeric_datatype_gets_its_dtype(datatype: str, dtype: Any) -> None:
    data = [True, False] if datatype == "BOOL" else [1, 0]
    array = decode_one(data, [2], datatype)
    assert array.dtype == dtype
    assert array.tolist() == data


def test_bool_needs_json_booleans() -> None:
    assert decode_one([True, False], [2], "BOOL").tolist() == [True, False]
    for data in ([1, 0], [1.0, 0.0], ["true", "false"], [None, True]):
        assert error_of(body(tensor(data, [2], "BOOL"))).code is ErrorCode.INVALID_TENSOR


@pytest.mark.parametrize("data", [[1.5], [2.0], ["1"], [True], [None], [{"a": 1}], [[1]]])
def test_integers_must_be_json_integers(data: list[Any]) -> None:
    assert error_of(body(tensor(data, [1], "INT64"))).code is ErrorCode.INVALID_TENSOR


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("UINT8", 256), ("UINT8", -1), ("INT8", 128), ("INT8", -129), ("UINT64", -1),
     ("INT64", 2**63), ("INT32", 2**31), ("UINT32", 2**32)],
)  # fmt: skip
def test_integers_out_of_range_are_invalid_tensor(datatype: str, value: int) -> None:
    assert error_of(body(tensor([0, value], [2], datatype))).code is ErrorCode.INVALID_TENSOR


def test_integer_range_edges_are_accepted() -> None:
    assert decode_one([0, 2**64 - 1], [2], "UINT64").tolist() == [0, 2**64 - 1]
    assert decode_one([-(2**63), 2**63 - 1], [2], "INT64").tolist() == [-(2**63), 2**63 - 1]
    assert decode_one([-128, 127], [2], "INT8").tolist() == [-128, 127]


def test_floats_accept_integers() -> None:
    assert decode_one([1, 2.5], [2], "FP64").tolist() == [1.0, 2.5]


def test_floats_accept_nonfinite_tokens_and_null_as_nan() -> None:
    values = decode_one([1, "NaN", "Infinity", "-Infinity", None], [5], "FP32").tolist()
    assert values[0] == 1.0
    assert math.isnan(values[1])
    assert values[2:4] == [math.inf, -math.inf]
    assert math.isnan(values[4])
    nested = decode_one([[1, "NaN"], [None, 2]], [2, 2], "FP64")
    assert nested.shape == (2, 2)


@pytest.mark.parametrize("data", [["nan"], ["1.5"], ["inf"], [True, False], [{"x": 1}], ["NaN", True]])
def test_floats_refuse_other_strings_and_booleans(data: list[Any]) -> None:
    error = error_of(body(tensor(data, [len(data)], "FP32", name="score")))
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "'score'" in error.message


@pytest.mark.parametrize(("datatype", "value"), [("FP16", 70000.0), ("FP32", 1e300), ("FP16", -1e10)])
def test_finite_values_too_large_for_the_datatype_are_invalid_tensor(datatype: str, value: float) -> None:
    assert error_of(body(tensor([value], [1], datatype))).code is ErrorCode.INVALID_TENSOR


def test_float_narrowing_keeps_explicit_infinity() -> None:
    assert decode_one(["Infinity", 1e3], [2], "FP16").tolist() == [math.inf, 1000.0]


def test_bytes_are_strings_kept_as_str() -> None:
    array = decode_one([["a", "é"], ["", "d"]], [2, 2], "BYTES")
    assert array.shape == (2, 2)
    assert array.dtype == object
    assert all(type(x) is str for x in array.flat)


@pytest.mark.parametrize("data", [[1], [None], [["a"], "b"], [b"x".decode(), 2]])
def test_bytes_refuse_non_strings(data: list[Any]) -> None:
    assert error_of(body(tensor(data, [len(data)], "BYTES"))).code is ErrorCode.INVALID_TENSOR


def test_base64_bytes_decode_to_bytes() -> None:
    array = decode_one(["aGk=", "AP8="], [2], "BYTES", parameters={"content_type": "base64"})
    assert array.tolist() == [b"hi", b"\x00\xff"]
    bad = body(tensor(["not base64!"], [1], "BYTES", parameters={"content_type": "base64"}))
    assert error_of(bad).code is ErrorCode.INVALID_TENSOR


# -- encoding -------------------------------------------------------------------------------------


def response(*outputs: Tensor, **extra: Any) -> InferenceResponse:
    return InferenceResponse("m", "3", list(outputs), **extra)


def out(name: str, data: Any, datatype: str | None = None) -> Tensor:
    array = np.asarray(data)
    return Tensor(name, datatype or "FP32", array.shape, array)


def test_encodes_a_response_flat_row_major() -> None:
    scores = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    encoded = orjson.loads(
        encode_infer_response(
            response(
                Tensor("p", "FP32", (2, 2), scores),
                Tensor("label", "BYTES", (2,), np.array(["a", "b"], dtype=object), {"x": 1}),
                id="r1",
                parameters={"took_ms": 1},
            )
        )
    )
    assert encoded == {
        "model_name": "m",
        "model_version": "3",
        "id": "r1",
        "parameters": {"took_ms": 1},
        "outputs": [
            {"name": "p", "datatype": "FP32", "shape": [2, 2], "data": [0.25, 0.75, 0.5, 0.5]},
            {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["a", "b"], "parameters": {"x": 1}},
        ],
    }


def test_encoding_omits_absent_optional_fields() -> None:
    encoded = orjson.loads(encode_infer_response(response(out("y", [1.0]))))
    assert set(encoded) == {"model_name", "model_version", "outputs"}
    assert set(encoded["outputs"][0]) == {"name", "datatype", "shape", "data"}


def test_float32_values_are_written_shortest() -> None:
    assert b"[0.1,0.2]" in encode_infer_response(response(out("y", np.array([0.1, 0.2], dtype=np.float32))))


def test_nonfinite_floats_encode_as_tokens_and_decode_back() -> None:
    raw = encode_infer_response(response(out("y", np.array([1.0, np.nan, np.inf, -np.inf]))))
    assert orjson.loads(raw)["outputs"][0]["data"] == [1.0, "NaN", "Infinity", "-Infinity"]
    back = decode_infer_response(raw).outputs[0].data
    assert math.isnan(back[1])
    assert back[2:].tolist() == [math.inf, -math.inf]


def test_non_contiguous_and_non_native_arrays_encode() -> None:
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    view = base[:, ::2]
    swapped = np.arange(3, dtype=">i4")
    encoded = orjson.loads(
        encode_infer_response(response(out("v", view, "FP64"), out("s", swapped, "INT32")))
    )
    assert encoded["outputs"][0]["data"] == view.reshape(-1).tolist()
    assert encoded["outputs"][1]["data"] == [0, 1, 2]


def test_bytes_outputs_decode_utf8_else_go_base64() -> None:
    text = Tensor("t", "BYTES", (2,), np.array([b"caf\xc3\xa9", "x"], dtype=object))
    binary = Tensor("b", "BYTES", (2,), np.array([b"\x00\xff", "x"], dtype=object))
    unicode_array = Tensor("u", "BYTES", (1,), np.array(["z"]))
    encoded = orjson.loads(encode_infer_response(response(text, binary, unicode_array)))
    assert encoded["outputs"][0]["data"] == ["café", "x"]
    assert encoded["outputs"][1]["parameters"] == {"content_type": "base64"}
    assert encoded["outputs"][2]["data"] == ["z"]
    decoded = decode_infer_response(encode_infer_response(response(binary))).outputs[0]
    assert decoded.data.tolist() == [b"\x00\xff", b"x"]


def test_a_bytes_tensor_of_other_objects_cannot_be_encoded() -> None:
    bad = Tensor("t", "BYTES", (1,), np.array([{"a": 1}], dtype=object))
    with pytest.raises(BerthError) as caught:
        encode_infer_response(response(bad))
    assert caught.value.code is ErrorCode.INVALID_TENSOR


def test_a_tensor_whose_data_disagrees_with_its_shape_cannot_be_encoded() -> None:
    with pytest.raises(BerthError) as caught:
        encode_infer_response(response(Tensor("y", "FP32", (3,), np.zeros(2, dtype=np.float32))))
    assert caught.value.code is ErrorCode.INVALID_TENSOR


def test_unencodable_parameters_are_an_error() -> None:
    with pytest.raises(BerthError) as caught:
        encode_infer_response(response(out("y", [1.0]), parameters={"x": object()}))
    assert caught.value.code is ErrorCode.INTERNAL
    request = InferenceRequest([out("x", [1.0])], parameters={"x": {1, 2}})
    with pytest.raises(BerthError) as caught:
        encode_infer_request(request)
    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_request_round_trip_keeps_everything() -> None:
    request = InferenceRequest(
        inputs=[out("x", np.arange(6, dtype=np.int16).reshape(2, 3), "INT16")],
        id="abc",
        outputs=[RequestedOutput("y", {"binary_data": False}), RequestedOutput("z")],
        parameters={"p": "q"},
    )
    back = decode_infer_request(encode_infer_request(request))
    assert (back.id, back.outputs, back.parameters) == (request.id, request.outputs, request.parameters)
    np.testing.assert_array_equal(back.inputs[0].data, request.inputs[0].data)
    assert back.inputs[0].data.dtype == np.int16


def test_response_decoding_checks_its_structure() -> None:
    for doc in ({"outputs": []}, {"model_name": "m"}, {"model_name": "m", "outputs": [], "model_version": 1}):
        with pytest.raises(BerthError) as caught:
            decode_infer_response(orjson.dumps(doc))
        assert caught.value.code is ErrorCode.INVALID_REQUEST
    decoded = decode_infer_response(b'{"model_name": "m", "outputs": []}')
    assert (decoded.model_name, decoded.model_version, decoded.outputs) == ("m", "", [])
