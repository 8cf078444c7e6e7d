"""The gateway reads a gRPC call's model name off the wire without decoding the message: the same
name protobuf's own parser reads, for any message; garbage is refused, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.server.gateway.grpc_proxy import NAME_FIELD, NotFound, string_field
from berth.server.grpc.proto import berth_inference_pb2 as pb

names = st.text(min_size=1, max_size=300)


@given(
    name=names,
    version=st.text(max_size=20),
    request_id=st.text(max_size=40),
    data=st.lists(st.floats(allow_nan=False, width=32), max_size=50),
    raw=st.lists(st.binary(max_size=200), max_size=3),
)
def test_the_name_of_any_infer_request(
    name: str, version: str, request_id: str, data: list[float], raw: list[bytes]
) -> None:
    request = pb.ModelInferRequest(model_name=name, model_version=version, id=request_id)
    tensor = request.inputs.add(name="input-0", datatype="FP32", shape=[len(data)])
    tensor.contents.fp32_contents.extend(data)
    request.raw_input_contents.extend(raw)
    request.parameters["priority"].int64_param = 3

    serialized = request.SerializeToString()

    assert (
        string_field(serialized, NAME_FIELD["ModelInfer"])
        == pb.ModelInferRequest.FromString(serialized).model_name
    )


@given(name=names, version=st.text(max_size=20))
def test_the_name_of_any_ready_or_metadata_request(name: str, version: str) -> None:
    for method, message in (("ModelReady", pb.ModelReadyRequest), ("ModelMetadata", pb.ModelMetadataRequest)):
        serialized = message(name=name, version=version).SerializeToString()
        assert string_field(serialized, NAME_FIELD[method]) == name


def test_the_last_of_repeated_fields_wins_as_in_protobuf() -> None:
    twice = (
        pb.ModelReadyRequest(name="first").SerializeToString()
        + pb.ModelReadyRequest(name="second").SerializeToString()
    )

    assert (
        string_field(twice, NAME_FIELD["ModelReady"])
        == pb.ModelReadyRequest.FromString(twice).name
        == "second"
    )


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x0a",
        b"\x0a\x05abc",
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        b"\x0f",
        b"\x0a\x02\xff\xfe",
    ],
    ids=["empty", "key-only", "short-string", "huge-varint", "wire-type-7", "not-utf8"],
)
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(NotFound):
        string_field(garbage, 1)


@given(st.binary(max_size=200))
def test_a_name_read_off_any_bytes_is_the_one_protobuf_reads(data: bytes) -> None:
    try:
        name = string_field(data, NAME_FIELD["ModelReady"])
    except NotFound:
        return
    assert pb.ModelReadyRequest.FromString(data).name == name
