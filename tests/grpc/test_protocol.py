"""The .proto is wire-compatible with Triton's, coexists with tritonclient; every error code has a status."""

from __future__ import annotations

import gc

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from tritonclient.grpc import service_pb2 as triton

from berth.core.errors import ErrorCode
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.status import GRPC_STATUS

SERVICE = "GRPCInferenceService"


def layout(message: Descriptor) -> dict[str, object]:
    """What goes on the wire: field numbers, types, repetition and (recursively) nested layouts."""
    fields: dict[str, object] = {}
    for field in message.fields:
        nested = layout(field.message_type) if field.type == FieldDescriptor.TYPE_MESSAGE else None
        fields[field.name] = (field.number, field.type, field.is_repeated, nested)
    return fields


@pytest.mark.parametrize("name", sorted(pb.DESCRIPTOR.message_types_by_name))
def test_messages_match_tritons(name: str) -> None:
    assert layout(pb.DESCRIPTOR.message_types_by_name[name]) == layout(
        triton.DESCRIPTOR.message_types_by_name[name]
    )


def test_service_methods_are_tritons() -> None:
    ours = pb.DESCRIPTOR.services_by_name[SERVICE]
    theirs = triton.DESCRIPTOR.services_by_name[SERVICE]
    assert ours.full_name == theirs.full_name == "inference.GRPCInferenceService"
    for method in ours.methods:
        other = theirs.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            other.input_type.full_name,
            other.output_type.full_name,
        )
    assert {m.name for m in ours.methods} == {
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "RepositoryIndex",
        "RepositoryModelLoad",
        "RepositoryModelUnload",
    }


def test_messages_live_in_a_private_pool() -> None:
    """tritonclient (imported above) owns `inference.*` in protobuf's default pool; berth's code must not
    collide with it (the failure MLServer and KServe users meet: 'duplicate symbol')."""
    default = descriptor_pool.Default().FindMessageTypeByName("inference.ModelInferRequest")
    assert default.file.name == triton.DESCRIPTOR.name
    gc.collect()
    message = pb.ModelInferRequest(model_name="m", raw_input_contents=[b"\x00"])
    assert triton.ModelInferRequest.FromString(message.SerializeToString()).model_name == "m"


def test_every_error_code_has_a_grpc_status() -> None:
    assert set(GRPC_STATUS) == set(ErrorCode)
    assert GRPC_STATUS[ErrorCode.MODEL_NOT_FOUND] is grpc.StatusCode.NOT_FOUND
    assert GRPC_STATUS[ErrorCode.PAYLOAD_TOO_LARGE] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert GRPC_STATUS[ErrorCode.INTERNAL] is grpc.StatusCode.INTERNAL
