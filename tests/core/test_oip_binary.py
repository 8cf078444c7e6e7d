"""The binary tensor data extension codec: tritonclient's bytes in, every error a BerthError, round trips."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from berth.core.codecs.oip_binary import (
    ALL,
    binary_outputs,
    decode_binary_infer_request,
    decode_binary_infer_response,
    encode_binary_infer_request,
    encode_binary_infer_response,
    parse_header_length,
)
from berth.core.datatypes import DATATYPES
from berth.core.errors import BerthError
from berth.core.numpy_types import OIP_TO_NUMPY
from berth.core.tensors import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def body_of(inputs: list[dict[str, Any]], *parts: bytes, **extra: Any) -> tuple[bytes, int]:
    header = orjson.dumps({"inputs": inputs, **extra})
    return header + b"".join(parts), len(header)


def binary_input(name: str, datatype: str, shape: list[int], raw: bytes, **parameters: Any) -> dict[str, Any]:
    return {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": len(raw), **parameters},
    }


# -- decoding what tritonclient sends ---------------------------------------------------------------


@pytest.mark.parametrize("datatype", sorted(DATATYPES - {"BYTES"}))
def test_numeric_tensors_as_tritonclient_sends_them(datatype: str) -> None:
    data = (np.arange(6) % 2 if datatype == "BOOL" else np.arange(6) * 3).astype(OIP_TO_NUMPY[datatype])
    data = data.reshape(2, 3)
    raw = data.tobytes()  # tritonclient: input_tensor.tobytes() (little-endian hosts)
    body, length = body_of([binary_input("x", datatype, [2, 3], raw)], raw)
    [tensor] = decode_binary_infer_request(body, length).inputs
    assert (tensor.datatype, tensor.shape, tensor.parameters) == (datatype, (2, 3), {})
    assert tensor.data.dtype == data.dtype
    np.testing.assert_array_equal(tensor.data, data)
    assert tensor.data.flags.writeable


def test_arrays_are_writable_copies() -> None:
    raw = np.ones(4, np.float32).tobytes()
    body, length = body_of([binary_input("x", "FP32", [4], raw)], raw)
    [tensor] = decode_binary_infer_request(body, length).inputs
    tensor.data[0] = 7.0  # a model may write into its input
    assert body.endswith(raw)


def test_bytes_tensors_text_becomes_str_and_binary_stays_bytes() -> None:
    text = serialize_byte_tensor(np.array(["héllo", "", "wörld"], dtype=object)).item()
    blobs = serialize_byte_tensor(np.array([b"\xff\xfe", b"ok"], dtype=object)).item()
    body, length = body_of(
        [binary_input("text", "BYTES", [3], text), binary_input("blob", "BYTES", [2, 1], blobs)], text, blobs
    )
    text_tensor, blob_tensor = decode_binary_infer_request(body, length).inputs
    assert text_tensor.data.dtype == object
    assert text_tensor.data.tolist() == ["héllo", "", "wörld"]
    assert blob_tensor.data.shape == (2, 1)
    assert blob_tensor.data.tolist() == [[b"\xff\xfe"], [b"ok"]]


def test_json_and_binary_inputs_mix_and_parameters_are_kept() -> None:
    raw = np.array([1.5, 2.5], np.float64).tobytes()
    inputs = [
        {"name": "a", "datatype": "INT64", "shape": [2], "data": [1, 2]},
        binary_input("b", "FP64", [2], raw, unit="cm"),
        {"name": "c", "datatype": "BYTES", "shape": [1], "data": ["x"]},
    ]
    body, length = body_of(
        inputs, raw, id="r", outputs=[{"name": "y", "parameters": {"binary_data": True}}], parameters={"k": 1}
    )
    request = decode_binary_infer_request(body, length)
    a, b, c = request.inputs
    assert a.data.tolist() == [1, 2]
    assert (b.data.tolist(), b.parameters) == ([1.5, 2.5], {"unit": "cm"})
    assert c.data.tolist() == ["x"]
    assert (request.id, request.parameters) == ("r", {"k": 1})
    assert request.outputs == [RequestedOutput("y", {"binary_data": True})]


def test_empty_tensors() -> None:
    body, length = body_of(
        [binary_input("x", "FP32", [0, 20], b""), binary_input("s", "BYTES", [0], b"")],
    )
    x, s = decode_binary_infer_request(body, length).inputs
    assert (x.data.shape, x.data.dtype, s.data.shape) == ((0, 20), np.float32, (0,))


def test_header_length_may_cover_the_whole_body() -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]})
    assert decode_binary_infer_request(body, len(body)).inputs[0].data.tolist() == [1.0]


@pytest.mark.parametrize(("value", "number"), [("0", 0), ("123", 123), (" 42 ", 42)])
def test_parse_header_length(value: str, number: int) -> None:
    assert parse_header_length(value) == number


@pytest.mark.parametrize("value", ["", "-1", "1.5", "abc", "١٢", "0x10"])
def test_parse_header_length_refuses_non_numbers(value: str) -> None:
    with pytest.raises(BerthError) as caught:
        parse_header_length(value)
    assert caught.value.code.value == "invalid_request"


# -- errors ----------------------------------------------------------------------------------------

ROW = np.zeros(4, np.float32).tobytes()


def length_prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


ERRORS: list[tuple[str, tuple[bytes, int], str]] = [
    (
        "header longer than body",
        (body_of([binary_input("x", "FP32", [4], ROW)], ROW)[0], 10_000),
        "invalid_request",
    ),
    (
        "negative header length",
        (body_of([binary_input("x", "FP32", [4], ROW)], ROW)[0], -1),
        "invalid_request",
    ),
    ("header not JSON", (b"\x00" * 20, 10), "invalid_json"),
    (
        "size missing, bytes left over",
        body_of([{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], ROW),
        "invalid_request",
    ),
    (
        "size too large",
        body_of([{**binary_input("x", "FP32", [4], ROW), "parameters": {"binary_data_size": 17}}], ROW),
        "invalid_request",
    ),
    (
        "size negative",
        body_of([{**binary_input("x", "FP32", [4], ROW), "parameters": {"binary_data_size": -1}}], ROW),
        "invalid_request",
    ),
    (
        "size a bool",
        body_of([{**binary_input("x", "FP32", [4], ROW), "parameters": {"binary_data_size": True}}], ROW),
        "invalid_request",
    ),
    (
        "sizes sum short of the body",
        body_of([binary_input("x", "FP32", [4], ROW)], ROW, b"\0"),
        "invalid_request",
    ),
    ("size vs shape x itemsize", body_of([binary_input("x", "FP32", [3], ROW)], ROW), "invalid_tensor"),
    ("size vs datatype itemsize", body_of([binary_input("x", "FP64", [4], ROW)], ROW), "invalid_tensor"),
    ("unknown datatype", body_of([binary_input("x", "BF16", [8], ROW)], ROW), "unsupported_datatype"),
    (
        "data and size both",
        body_of([{**binary_input("x", "FP32", [4], ROW), "data": [1, 2, 3, 4]}], ROW),
        "invalid_request",
    ),
    (
        "BOOL byte not 0 or 1",
        body_of([binary_input("x", "BOOL", [2], b"\x01\x02")], b"\x01\x02"),
        "invalid_tensor",
    ),
    (
        "BYTES length cut",
        body_of([binary_input("s", "BYTES", [1], b"\x05\x00\x00\x00ab")], b"\x05\x00\x00\x00ab"),
        "invalid_tensor",
    ),
    (
        "BYTES prefix cut",
        body_of(
            [binary_input("s", "BYTES", [2], length_prefixed(b"a") + b"\x01")],
            length_prefixed(b"a") + b"\x01",
        ),
        "invalid_tensor",
    ),
    (
        "BYTES too few elements",
        body_of([binary_input("s", "BYTES", [3], length_prefixed(b"a", b"b"))], length_prefixed(b"a", b"b")),
        "invalid_tensor",
    ),
    (
        "BYTES bytes left over",
        body_of([binary_input("s", "BYTES", [1], length_prefixed(b"a", b"b"))], length_prefixed(b"a", b"b")),
        "invalid_tensor",
    ),
    (
        "BYTES huge shape",
        body_of([binary_input("s", "BYTES", [10**12], length_prefixed(b"a"))], length_prefixed(b"a")),
        "invalid_tensor",
    ),
    (
        "huge numeric shape",
        body_of([binary_input("x", "FP32", [10**12, 10**12], ROW)], ROW),
        "invalid_tensor",
    ),
]


@pytest.mark.parametrize(("body", "code"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_have_stable_codes(body: tuple[bytes, int], code: str) -> None:
    with pytest.raises(BerthError) as caught:
        decode_binary_infer_request(*body)
    assert caught.value.code.value == code


# -- which outputs go binary -----------------------------------------------------------------------


def request_with(outputs: list[RequestedOutput] | None, **parameters: Any) -> InferenceRequest:
    return InferenceRequest([], outputs=outputs, parameters=parameters)


def test_binary_outputs_rules() -> None:
    assert binary_outputs(request_with(None)) == frozenset()
    assert binary_outputs(request_with(None, binary_data_output=True)) == ALL
    assert binary_outputs(request_with(None, binary_data_output=False)) == frozenset()
    named = [
        RequestedOutput("a", {"binary_data": True}),
        RequestedOutput("b"),
        RequestedOutput("c", {"binary_data": False}),
    ]
    assert binary_outputs(request_with(named)) == {"a"}
    assert binary_outputs(request_with(named, binary_data_output=True)) == {"a", "b"}


@pytest.mark.parametrize(
    "request_",
    [
        request_with(None, binary_data_output="true"),
        request_with([RequestedOutput("a", {"binary_data": 1})]),
    ],
)
def test_binary_flags_must_be_booleans(request_: InferenceRequest) -> None:
    with pytest.raises(BerthError) as caught:
        binary_outputs(request_)
    assert caught.value.code.value == "invalid_request"


# -- encoding responses ----------------------------------------------------------------------------


def test_response_mixes_binary_and_json_outputs() -> None:
    proba = np.array([[0.25, 0.75]], np.float32)
    labels = np.array(["stay"], dtype=object)
    response = InferenceResponse(
        "m", "3", [Tensor("proba", "FP32", (1, 2), proba), Tensor("label", "BYTES", (1,), labels)], id="r"
    )
    body, length = encode_binary_infer_response(response, {"proba"})
    header = orjson.loads(body[:length])
    assert header["outputs"] == [
        {"name": "proba", "datatype": "FP32", "shape": [1, 2], "parameters": {"binary_data_size": 8}},
        {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["stay"]},
    ]
    assert (header["model_name"], header["model_version"], header["id"]) == ("m", "3", "r")
    assert np.frombuffer(body[length:], "<f4").tolist() == [0.25, 0.75]


def test_bytes_outputs_as_tritonclient_reads_them() -> None:
    labels = np.array(["card_lost", "bälance"])  # a numpy unicode array, as sklearn returns
    response = InferenceResponse("m", "1", [Tensor("predict", "BYTES", (2,), labels)])
    body, length = encode_binary_infer_response(response, ALL)
    assert deserialize_bytes_tensor(body[length:]).tolist() == [b"card_lost", "bälance".encode()]


# -- properties ------------------------------------------------------------------------------------


@SLOW
@given(st.binary(max_size=300), st.integers(min_value=-5, max_value=400))
def test_arbitrary_bytes_raise_only_berth_errors(body: bytes, header_length: int) -> None:
    with contextlib.suppress(BerthError):
        decode_binary_infer_request(body, header_length)


tensor_headers = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b", "c"]),
        "datatype": st.sampled_from([*sorted(DATATYPES), "BF16"]),
        "shape": st.lists(st.integers(min_value=0, max_value=5), max_size=3),
    },
    optional={
        "parameters": st.fixed_dictionaries(
            {"binary_data_size": st.integers(min_value=-2, max_value=64) | st.just("8") | st.none()}
        ),
        "data": st.lists(st.integers(min_value=0, max_value=3), max_size=6),
    },
)


@SLOW
@given(st.lists(tensor_headers, min_size=1, max_size=3), st.binary(max_size=100), st.integers(-2, 2))
def test_structured_binary_bodies_raise_only_berth_errors(
    inputs: list[dict[str, Any]], tail: bytes, header_shift: int
) -> None:
    body, length = body_of(inputs, tail)
    for header_length in (length, length + header_shift):
        with contextlib.suppress(BerthError):
            decode_binary_infer_request(body, header_length)


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
elements = st.text(max_size=5) | st.binary(max_size=5)


@st.composite
def tensors(draw: st.DrawFn, name: str) -> Tensor:
    datatype = draw(st.sampled_from(sorted(DATATYPES)))
    shape = draw(shapes)
    if datatype == "BYTES":
        count = int(np.prod(shape))
        values = draw(st.lists(elements, min_size=count, max_size=count))
        data = np.empty(count, dtype=object)
        data[:] = values
        data = data.reshape(shape)
    else:
        data = draw(hnp.arrays(OIP_TO_NUMPY[datatype], shape))
    return Tensor(name, datatype, shape, data)


def decoded_bytes(values: list[Any]) -> list[Any]:
    """What BYTES elements come back as: all str when every one is UTF-8, else all bytes."""
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    try:
        return [r.decode("utf-8") for r in raw]
    except UnicodeDecodeError:
        return raw


def same_tensor(got: Tensor, want: Tensor) -> None:
    assert (got.name, got.datatype, got.shape) == (want.name, want.datatype, want.shape)
    assert got.data.dtype == want.data.dtype
    if want.datatype == "BYTES":
        assert got.data.reshape(-1).tolist() == decoded_bytes(want.data.reshape(-1).tolist())
    else:
        np.testing.assert_array_equal(got.data, want.data)  # NaN == NaN here


@SLOW
@given(st.data(), st.integers(min_value=1, max_value=4), st.none() | st.text(max_size=4))
def test_requests_round_trip(data: st.DataObject, count: int, request_id: str | None) -> None:
    inputs = [data.draw(tensors(f"in{i}")) for i in range(count)]
    request = InferenceRequest(inputs, id=request_id, outputs=[RequestedOutput("y", {"binary_data": True})])
    body, length = encode_binary_infer_request(request)
    back = decode_binary_infer_request(body, length)
    for got, want in zip(back.inputs, inputs, strict=True):
        same_tensor(got, want)
        assert got.parameters == {}
    assert (back.id, back.outputs) == (request.id, request.outputs)


@SLOW
@given(st.data(), st.integers(min_value=0, max_value=4))
def test_responses_round_trip(data: st.DataObject, count: int) -> None:
    outputs = [data.draw(tensors(f"out{i}")) for i in range(count)]
    binary = data.draw(st.sets(st.sampled_from([t.name for t in outputs])) if outputs else st.just(set()))
    body, length = encode_binary_infer_response(InferenceResponse("m", "2", outputs, id="r"), binary)
    back = decode_binary_infer_response(body, length)
    assert (back.model_name, back.model_version, back.id) == ("m", "2", "r")
    for got, want in zip(back.outputs, outputs, strict=True):
        if want.name in binary:
            same_tensor(got, want)
        else:  # a JSON output: the JSON codec's own rules (round-tripped in test_codec_properties)
            assert (got.name, got.datatype, got.shape) == (want.name, want.datatype, want.shape)
