"""The gRPC codec without a server: raw and typed contents, parameters, and what it refuses."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import OIP_TO_NUMPY
from berth.core.tensors import InferenceRequest, InferenceResponse, RequestedOutput, Tensor
from berth.server.grpc.codec import (
    CONTENTS_FIELD,
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
)
from berth.server.grpc.proto import berth_inference_pb2 as pb

NUMERIC = sorted(set(OIP_TO_NUMPY) - {"BYTES"})
In = pb.ModelInferRequest.InferInputTensor


def tensor(name: str, datatype: str, data: np.ndarray[Any, Any], **parameters: Any) -> Tensor:
    return Tensor(name, datatype, data.shape, data, parameters)


def request_of(
    *inputs: pb.ModelInferRequest.InferInputTensor, raw: list[bytes] | None = None
) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(model_name="m", inputs=inputs, raw_input_contents=raw or [])


def refused(message: pb.ModelInferRequest) -> BerthError:
    with pytest.raises(BerthError) as caught:
        decode_infer_request(message)
    return caught.value


@given(
    datatype=st.sampled_from(NUMERIC),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
    data=st.data(),
)
def test_raw_round_trip_keeps_every_numeric_value(datatype: str, shape: tuple[int, ...], data: Any) -> None:
    array = data.draw(hnp.arrays(OIP_TO_NUMPY[datatype], shape))
    request = InferenceRequest([tensor("x", datatype, array)], id="r1")
    decoded = decode_infer_request(encode_infer_request(request, "m"))
    [got] = decoded.inputs
    assert (got.datatype, got.shape, got.data.dtype) == (datatype, shape, array.dtype)
    np.testing.assert_array_equal(got.data, array)
    assert decoded.id == "r1"


def test_raw_is_little_endian_row_major() -> None:
    big_endian = np.array([[1, 2], [3, 4]], ">i4")
    message = encode_infer_request(InferenceRequest([tensor("x", "INT32", big_endian)]), "m")
    assert message.raw_input_contents[0] == struct.pack("<4i", 1, 2, 3, 4)


def test_bytes_round_trip_text_and_binary() -> None:
    text = np.array([["a", "é"], ["", "long " * 50]], dtype=object)
    binary = np.array([b"\xff\x00", b"ok"], dtype=object)
    request = InferenceRequest([tensor("t", "BYTES", text), tensor("b", "BYTES", binary)])
    message = encode_infer_request(request, "m")
    assert message.raw_input_contents[1] == struct.pack("<I", 2) + b"\xff\x00" + struct.pack("<I", 2) + b"ok"
    got = decode_infer_request(message).inputs
    assert got[0].data.tolist() == text.tolist()  # all UTF-8: str, as the JSON codec gives
    assert got[1].data.tolist() == [b"\xff\x00", b"ok"]  # not all UTF-8: bytes


@pytest.mark.parametrize("datatype", sorted(CONTENTS_FIELD))
def test_typed_contents_of_every_datatype(datatype: str) -> None:
    values: list[Any] = {"BOOL": [True, False], "BYTES": [b"a", b"b"]}.get(datatype, [1, 2])
    contents = pb.InferTensorContents(**{CONTENTS_FIELD[datatype]: values})
    message = request_of(In(name="x", datatype=datatype, shape=[2], contents=contents))
    [got] = decode_infer_request(message).inputs
    assert got.data.dtype == OIP_TO_NUMPY[datatype]
    expected = ["a", "b"] if datatype == "BYTES" else values
    assert got.data.tolist() == expected


def test_typed_contents_out_of_range_for_a_narrow_integer() -> None:
    contents = pb.InferTensorContents(int_contents=[1, 300])
    error = refused(request_of(In(name="x", datatype="INT8", shape=[2], contents=contents)))
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "[-128, 127]" in error.message


def test_fp16_has_no_typed_field() -> None:
    contents = pb.InferTensorContents(fp32_contents=[1.0])
    error = refused(request_of(In(name="x", datatype="FP16", shape=[1], contents=contents)))
    assert error.code is ErrorCode.INVALID_TENSOR
    assert "raw" in error.message


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        (pb.ModelInferRequest(model_name="m"), ErrorCode.INVALID_REQUEST, "no inputs"),
        (
            request_of(In(name="x", datatype="FP32", shape=[1]), raw=[b"", b""]),
            ErrorCode.INVALID_REQUEST,
            "2 entries for 1 inputs",
        ),
        (
            request_of(In(name="", datatype="FP32", shape=[1]), raw=[b"\x00" * 4]),
            ErrorCode.INVALID_REQUEST,
            "name",
        ),
        (
            request_of(In(name="x", datatype="FP32", shape=[-1]), raw=[b""]),
            ErrorCode.INVALID_REQUEST,
            "negative",
        ),
        (
            request_of(In(name="x", datatype="bool", shape=[1]), raw=[b"\x01"]),
            ErrorCode.UNSUPPORTED_DATATYPE,
            "'bool'",
        ),
        (
            request_of(In(name="x", datatype="BOOL", shape=[1]), raw=[b"\x02"]),
            ErrorCode.INVALID_TENSOR,
            "0 or 1",
        ),
        (
            request_of(
                In(name="x", datatype="FP32", shape=[1]),
                In(name="x", datatype="FP32", shape=[1]),
                raw=[b"\x00" * 4] * 2,
            ),
            ErrorCode.INVALID_REQUEST,
            "duplicate",
        ),
        (
            request_of(In(name="x", datatype="FP32", shape=[10**12]), raw=[b"\x00" * 4]),
            ErrorCode.INVALID_TENSOR,
            "takes 4000000000000",
        ),
        (
            request_of(In(name="x", datatype="BYTES", shape=[10**12]), raw=[b"\x00" * 4]),
            ErrorCode.INVALID_TENSOR,
            "cannot hold 1000000000000 BYTES elements",
        ),
        (
            request_of(
                In(name="x", datatype="FP32", shape=[1], parameters={"p": pb.InferParameter()}),
                raw=[b"\x00" * 4],
            ),
            ErrorCode.INVALID_REQUEST,
            "no value",
        ),
    ],
)
def test_malformed_requests(message: pb.ModelInferRequest, code: ErrorCode, fragment: str) -> None:
    error = refused(message)
    assert error.code is code
    assert fragment in error.message


def test_parameters_and_requested_outputs_round_trip() -> None:
    parameters = {"flag": True, "n": -3, "big": 2**63 + 1, "ratio": 0.5, "who": "me", "tags": ["a"]}
    request = InferenceRequest(
        [tensor("x", "FP32", np.zeros(2, np.float32), content_type="np")],
        outputs=[RequestedOutput("predict", {"binary_data": True})],
        parameters=parameters,
    )
    decoded = decode_infer_request(encode_infer_request(request, "m", "production"))
    assert decoded.parameters == {**parameters, "tags": '["a"]'}  # not a scalar: sent as JSON text
    assert decoded.outputs == [RequestedOutput("predict", {"binary_data": True})]
    assert decoded.inputs[0].parameters == {"content_type": "np"}


def test_response_uses_raw_output_contents() -> None:
    labels = np.array(["stay", "churn"])  # numpy unicode, as sklearn returns string labels
    proba = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    response = InferenceResponse(
        "m", "2", [tensor("predict", "BYTES", labels), tensor("predict_proba", "FP32", proba)], id="r"
    )
    message = encode_infer_response(response)
    assert [o.name for o in message.outputs] == ["predict", "predict_proba"]
    assert not any(o.HasField("contents") for o in message.outputs)
    assert message.raw_output_contents[1] == proba.astype("<f4").tobytes()
    decoded = decode_infer_response(message)
    assert decoded.outputs[0].data.tolist() == ["stay", "churn"]
    np.testing.assert_array_equal(decoded.outputs[1].data, proba)
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "2", "r")


def test_response_refuses_objects_that_are_not_text() -> None:
    response = InferenceResponse("m", "1", [tensor("y", "BYTES", np.array([{"a": 1}], dtype=object))])
    with pytest.raises(BerthError, match="holds a dict"):
        encode_infer_response(response)
