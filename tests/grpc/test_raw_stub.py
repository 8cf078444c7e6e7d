"""berth's own generated stubs against the server: typed ``contents`` (not raw), and malformed raw data."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.server.grpc.status import ERROR_CODE_KEY
from tests.conftest import Trained
from tests.grpc.conftest import Served

Input = pb.ModelInferRequest.InferInputTensor


@pytest.fixture
def stub(served: Served) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(served.grpc_address) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def raw_bytes_elements(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def failure(stub: Any, request: pb.ModelInferRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=30)
    return caught.value


def test_typed_fp32_contents(stub: Any, lr: Trained) -> None:
    x = lr.x[:3]
    request = pb.ModelInferRequest(
        model_name="lr",
        inputs=[Input(name="input-0", datatype="FP32", shape=x.shape, contents={"fp32_contents": x.ravel()})],
        outputs=[{"name": "predict"}, {"name": "predict_proba"}],
        parameters={"trace": pb.InferParameter(bool_param=True)},
    )
    response = stub.ModelInfer(request, timeout=30)
    assert [o.name for o in response.outputs] == ["predict", "predict_proba"]
    assert list(response.outputs[1].shape) == [3, 2]
    labels = np.frombuffer(response.raw_output_contents[0], dtype="<i8")
    np.testing.assert_array_equal(labels, lr.model.predict(x))
    proba = np.frombuffer(response.raw_output_contents[1], dtype="<f4").reshape(3, 2)
    np.testing.assert_allclose(proba, lr.model.predict_proba(x), rtol=1e-5)


def test_typed_columns(stub: Any, frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.head(2)
    request = pb.ModelInferRequest(
        model_name="churn",
        inputs=[
            Input(
                name="plan",
                datatype="BYTES",
                shape=[2],
                contents={"bytes_contents": [p.encode() for p in rows["plan"]]},
            ),
            Input(name="age", datatype="INT64", shape=[2], contents={"int64_contents": rows["age"].tolist()}),
            Input(
                name="spend", datatype="FP64", shape=[2], contents={"fp64_contents": rows["spend"].tolist()}
            ),
        ],
    )
    response = stub.ModelInfer(request, timeout=30)
    raw = response.raw_output_contents[0]
    assert raw == raw_bytes_elements(*(label.encode() for label in frame_pipeline.model.predict(rows)))


FP32_1x20 = {"name": "input-0", "datatype": "FP32", "shape": [1, 20]}


@pytest.mark.parametrize(
    ("tensor", "raw", "fragment"),
    [
        pytest.param(Input(**FP32_1x20), [b"\x00" * 79], "79 bytes", id="raw-too-short"),
        pytest.param(Input(**FP32_1x20), [b"\x00" * 84], "84 bytes", id="raw-too-long"),
        pytest.param(
            Input(name="input-0", datatype="FP99", shape=[1, 20]), [b"\x00" * 80], "FP99", id="datatype"
        ),
        pytest.param(
            Input(**FP32_1x20, contents={"fp32_contents": [0.0] * 20}),
            [b"\x00" * 80],
            "both",
            id="raw-and-typed",
        ),
        pytest.param(
            Input(**FP32_1x20, contents={"fp32_contents": [0.0] * 19}), [], "19 values", id="typed-count"
        ),
        pytest.param(
            Input(**FP32_1x20, contents={"int64_contents": [0] * 20}), [], "fp32_contents", id="typed-field"
        ),
        pytest.param(Input(**FP32_1x20), [], "0 values", id="no-data"),
        pytest.param(
            Input(name="input-0", datatype="BYTES", shape=[1]),
            [raw_bytes_elements(b"abc")[:-1]],
            "truncated",
            id="bytes-cut",
        ),
        pytest.param(
            Input(name="input-0", datatype="BYTES", shape=[2]),
            [raw_bytes_elements(b"ab", b"c")[:-1]],
            "truncated",
            id="bytes-cut-length",
        ),
        pytest.param(
            Input(name="input-0", datatype="BYTES", shape=[2]),
            [raw_bytes_elements(b"a")],
            "cannot hold 2 BYTES elements",
            id="bytes-missing",
        ),
        pytest.param(
            Input(name="input-0", datatype="BYTES", shape=[1]),
            [raw_bytes_elements(b"ab") + b"x"],
            "follow",
            id="bytes-extra",
        ),
    ],
)
def test_malformed_tensors_are_invalid(stub: Any, tensor: Input, raw: list[bytes], fragment: str) -> None:
    error = failure(stub, pb.ModelInferRequest(model_name="lr", inputs=[tensor], raw_input_contents=raw))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in error.details()


def test_unknown_model_carries_the_berth_code(stub: Any) -> None:
    request = pb.ModelInferRequest(model_name="nope", inputs=[Input(name="x", datatype="FP32", shape=[1])])
    error = failure(stub, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert (ERROR_CODE_KEY, "model_not_found") in tuple(error.trailing_metadata())


def test_repository_index_ready_only(stub: Any) -> None:
    ready = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True), timeout=30).models
    assert ready
    assert {m.state for m in ready} == {"READY"}


def test_unimplemented_triton_calls(served: Served) -> None:
    with grpc.insecure_channel(served.grpc_address) as channel:
        statistics = channel.unary_unary("/inference.GRPCInferenceService/ModelStatistics")
        with pytest.raises(grpc.RpcError) as caught:
            statistics(b"", timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
