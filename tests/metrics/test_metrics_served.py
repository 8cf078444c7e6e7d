"""/metrics of a real server after REST, gRPC and TF-Serving requests, answered and failed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

import berth
from berth.core.settings import Settings
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from tests.conftest import Trained
from tests.metrics.scrape import delta, scrape, value
from tests.support.servers import free_port, server_in_thread

REQUEST = "berth_requests_total"
DURATION = "berth_request_duration_seconds"


@dataclass(frozen=True)
class Served:
    url: str
    grpc_address: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("metrics") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    grpc_port = free_port()
    with server_in_thread(Settings(home=home, poll_interval_s=0.1, grpc_port=grpc_port)) as url:
        created = httpx.post(
            f"{url}/api/v1/endpoints",
            json={
                "name": "ab",
                "targets": [{"target": "lr:1", "weight": 50}, {"target": "lr:2", "weight": 50}],
            },
            timeout=30,
        )
        assert created.status_code in (200, 201), created.text
        yield Served(url, f"127.0.0.1:{grpc_port}")


def rows(x: np.ndarray[Any, Any]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ]
    }


def test_rest_requests_are_counted_by_what_answered(served: Served, lr: Trained) -> None:
    before = scrape(served.url)
    variants: dict[tuple[str, str], int] = {}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for _ in range(5):
            assert client.post("/v2/models/lr/infer", json=rows(lr.x[:2])).status_code == 200
        for _ in range(6):
            answer = client.post("/v2/models/ab/infer", json=rows(lr.x[:1]))
            assert answer.status_code == 200, answer.text
            key = (answer.headers["berth-variant"], answer.headers["berth-model-version"])
            variants[key] = variants.get(key, 0) + 1
        assert client.post("/v2/models/nope/infer", json=rows(lr.x[:1])).status_code == 404
        bad_json = client.post(
            "/v2/models/lr/infer", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
        wrong_shape = client.post("/v2/models/lr/infer", json=rows(lr.x[:2, :5]))
        assert wrong_shape.status_code in (400, 422), wrong_shape.text
    after = scrape(served.url)

    ok = {"protocol": "rest", "code": "ok"}
    assert delta(before, after, REQUEST, endpoint="lr", model="lr", version="2", variant="", **ok) == 5
    for (variant, version), count in variants.items():
        labels = {"endpoint": "ab", "model": "lr", "version": version, "variant": variant}
        assert delta(before, after, REQUEST, **labels, **ok) == count
        assert delta(before, after, f"{DURATION}_count", **labels, protocol="rest") == count
    # refused before a model answered: empty labels, never the unknown name
    empty = {"endpoint": "", "model": "", "version": "", "variant": "", "protocol": "rest"}
    assert delta(before, after, REQUEST, **empty, code="model_not_found") == 1
    assert delta(before, after, REQUEST, **empty, code="invalid_json") == 1
    assert value(after, REQUEST, endpoint="nope") == 0
    mismatch = [
        dict(labels)
        for (name, labels), v in after.items()
        if name == REQUEST and dict(labels)["code"] not in ("ok", "model_not_found", "invalid_json") and v
    ]
    assert mismatch
    assert all(m["model"] == "lr" and m["version"] == "2" for m in mismatch)
    # every request is in the latency histogram, errors too; its buckets add up
    assert delta(before, after, f"{DURATION}_count", protocol="rest") == 5 + 6 + 3
    assert delta(before, after, f"{DURATION}_bucket", protocol="rest", le="+Inf") == 14
    assert value(after, "berth_inflight_requests", protocol="rest") == 0


def test_grpc_and_v1_requests_are_counted_under_their_protocol(served: Served, lr: Trained) -> None:
    before = scrape(served.url)
    client = grpcclient.InferenceServerClient(served.grpc_address)
    try:
        for _ in range(4):
            tensor = grpcclient.InferInput("input-0", [3, 20], "FP32")
            tensor.set_data_from_numpy(lr.x[:3])
            client.infer("lr", [tensor], model_version="1")
        with pytest.raises(InferenceServerException):
            client.infer("missing", [tensor])
    finally:
        client.close()
    for _ in range(2):
        answer = httpx.post(
            f"{served.url}/v1/models/lr:predict", json={"instances": lr.x[:2].tolist()}, timeout=30
        )
        assert answer.status_code == 200, answer.text
    assert httpx.post(f"{served.url}/v1/models/gone:predict", json={"instances": [[1.0]]}).status_code == 404
    after = scrape(served.url)

    grpc_ok = {"endpoint": "lr", "model": "lr", "version": "1", "protocol": "grpc", "code": "ok"}
    assert delta(before, after, REQUEST, **grpc_ok) == 4
    assert delta(before, after, REQUEST, protocol="grpc", model="", code="model_not_found") == 1
    assert delta(before, after, f"{DURATION}_count", protocol="grpc") == 5
    assert (
        delta(before, after, REQUEST, endpoint="lr", model="lr", version="2", protocol="v1", code="ok") == 2
    )
    assert delta(before, after, REQUEST, model="", protocol="v1", code="model_not_found") == 1
    # the batcher saw the rows: 4 predict calls of 3 rows by gRPC (v1 on version 2)
    assert delta(before, after, "berth_batch_size_count", model="lr", version="1") == 4
    assert delta(before, after, "berth_batch_size_sum", model="lr", version="1") == 12


def test_serving_state_gauges(served: Served) -> None:
    samples = scrape(served.url)
    assert value(samples, "berth_models_loaded") == 2
    assert value(samples, "berth_model_pool_versions", state="ready") == 2
    assert value(samples, "berth_model_pool_versions", state="failed") == 0
    assert value(samples, "berth_batch_queue_depth", model="lr", version="1") == 0
    names = {name for name, _ in samples}
    assert {"berth_record_queue_depth", "berth_record_writer_lag_seconds"} <= names  # wired by the recorder


def test_request_ids_are_echoed_or_made(served: Served, lr: Trained) -> None:
    mine = httpx.post(
        f"{served.url}/v2/models/lr/infer", json=rows(lr.x[:1]), headers={"x-request-id": "abc-123"}
    )
    assert mine.headers["x-request-id"] == "abc-123"
    made = httpx.get(f"{served.url}/v2/health/live")
    too_long = httpx.get(f"{served.url}/v2/health/live", headers={"x-request-id": "x" * 129})
    assert made.headers["x-request-id"]
    assert too_long.headers["x-request-id"] != "x" * 129
    assert made.headers["x-request-id"] != too_long.headers["x-request-id"]
    refused = httpx.post(
        f"{served.url}/v2/models/nope/infer", json=rows(lr.x[:1]), headers={"x-request-id": "r-2"}
    )
    assert refused.status_code == 404
    assert refused.headers["x-request-id"] == "r-2"


def test_grpc_calls_return_their_request_id(served: Served) -> None:
    with grpc.insecure_channel(served.grpc_address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        _, call = stub.ServerLive.with_call(pb.ServerLiveRequest(), metadata=[("x-request-id", "g-1")])
        assert ("x-request-id", "g-1") in call.trailing_metadata()
        _, made = stub.ServerLive.with_call(pb.ServerLiveRequest())
        assert dict(made.trailing_metadata())["x-request-id"]
        with pytest.raises(grpc.RpcError) as failed:
            stub.ModelMetadata(pb.ModelMetadataRequest(name="missing"), metadata=[("x-request-id", "g-2")])
        assert ("x-request-id", "g-2") in failed.value.trailing_metadata()  # type: ignore[attr-defined]
