"""Triton's own gRPC client, unchanged and with its defaults (raw tensor contents), against berth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from tests.conftest import Trained
from tests.grpc.conftest import MAX_MESSAGE_BYTES, Served


@pytest.fixture
def client(served: Served) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(served.grpc_address)
    yield client
    client.close()


def tensor(name: str, array: np.ndarray[Any, Any], datatype: str) -> triton.InferInput:
    entry = triton.InferInput(name, list(array.shape), datatype)
    entry.set_data_from_numpy(array)
    return entry


def fp32(x: np.ndarray[Any, Any]) -> triton.InferInput:
    return tensor("input-0", x, "FP32")


def status_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return str(caught.value.status()), str(caught.value.message())


# -- health and metadata ------------------------------------------------------------------------
def test_health(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("lr")
    assert client.is_model_ready("lr", "production")
    assert client.is_model_ready("churn")


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "berth"
    assert meta["version"]


def test_model_metadata(client: triton.InferenceServerClient) -> None:
    meta = client.get_model_metadata("churn", as_json=True)
    assert meta["name"] == "churn"
    assert meta["platform"] == "sklearn"
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("plan", "BYTES"),
        ("age", "INT64"),
        ("spend", "FP64"),
    ]
    assert {o["name"] for o in meta["outputs"]} >= {"predict", "predict_proba"}
    lr = client.get_model_metadata("lr", "staging", as_json=True)
    assert lr["versions"] == ["1", "2", "3"]
    assert lr["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": ["-1", "20"]}]


# -- inference ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 7])
def test_infer_fp32(client: triton.InferenceServerClient, lr: Trained, rows: int) -> None:
    result = client.infer("lr", [fp32(lr.x[:rows])])
    response = result.get_response()
    assert response.model_name == "lr"
    assert response.model_version == "2"  # the bare name means the 'production' alias
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:rows]))


def test_requested_outputs_and_id(client: triton.InferenceServerClient, lr: Trained) -> None:
    outputs = [triton.InferRequestedOutput("predict_proba"), triton.InferRequestedOutput("predict")]
    result = client.infer("lr", [fp32(lr.x[:3])], outputs=outputs, request_id="req-7")
    response = result.get_response()
    assert response.id == "req-7"
    assert [o.name for o in response.outputs] == ["predict_proba", "predict"]
    np.testing.assert_allclose(result.as_numpy("predict_proba"), lr.model.predict_proba(lr.x[:3]), rtol=1e-5)
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:3]))


@pytest.mark.parametrize(("ref", "number"), [("1", "1"), ("production", "2"), ("staging", "3"), ("3", "3")])
def test_version_number_or_alias(
    client: triton.InferenceServerClient, lr: Trained, ref: str, number: str
) -> None:
    result = client.infer("lr", [fp32(lr.x[:2])], model_version=ref)
    assert result.get_response().model_version == number
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:2]))


def test_infer_int64(client: triton.InferenceServerClient, counts: Trained) -> None:
    result = client.infer("counts", [tensor("input-0", counts.x[:4], "INT64")])
    np.testing.assert_array_equal(result.as_numpy("predict"), counts.model.predict(counts.x[:4]))


def test_dataframe_model(client: triton.InferenceServerClient, frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.head(5)
    inputs = [
        tensor("plan", rows["plan"].to_numpy(dtype=object), "BYTES"),
        tensor("age", rows["age"].to_numpy(dtype=np.int64), "INT64"),
        tensor("spend", rows["spend"].to_numpy(dtype=np.float64), "FP64"),
    ]
    result = client.infer("churn", inputs)
    expected = frame_pipeline.model.predict(rows)
    assert result.as_numpy("predict").tolist() == [label.encode() for label in expected]


def test_text_model(client: triton.InferenceServerClient) -> None:
    texts = np.array(["card stolen", "my balance", "lost my card"], dtype=object)
    result = client.infer("router", [tensor("input-0", texts, "BYTES")])
    labels = result.as_numpy("predict")
    assert labels.shape == (3,)
    assert labels.tolist() == [b"card_lost", b"balance", b"card_lost"]


# -- model repository ---------------------------------------------------------------------------
def test_repository_index(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index(as_json=True)["models"]
    assert {(m["name"], m["version"]) for m in index} >= {
        ("lr", "1"),
        ("lr", "2"),
        ("lr", "3"),
        ("churn", "1"),
    }
    assert all(m["state"] in {"READY", "LOADING", "UNAVAILABLE", "UNLOADED"} for m in index)


def test_unload_then_load(client: triton.InferenceServerClient, lr: Trained) -> None:
    client.unload_model("lr")
    assert not client.is_model_ready("lr")
    states = {
        (m["name"], m.get("version")): m.get("state")
        for m in client.get_model_repository_index(as_json=True)["models"]
    }
    assert states[("lr", "2")] == "UNLOADED"
    client.load_model("lr")
    assert client.is_model_ready("lr")
    result = client.infer("lr", [fp32(lr.x[:1])])
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:1]))


def test_load_refuses_a_config(client: triton.InferenceServerClient) -> None:
    status, message = status_of(lambda: client.load_model("lr", config='{"max_batch_size": 8}'))
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "config" in message


# -- errors: a clear status, and the server keeps serving ---------------------------------------
@pytest.mark.parametrize(
    ("model", "version", "fragment"),
    [("nope", "", "nope"), ("lr", "99", "99"), ("lr", "canary", "canary")],
)
def test_unknown_names_are_not_found(
    client: triton.InferenceServerClient, lr: Trained, model: str, version: str, fragment: str
) -> None:
    status, message = status_of(lambda: client.infer(model, [fp32(lr.x[:1])], model_version=version))
    assert status == "StatusCode.NOT_FOUND"
    assert fragment in message
    assert status_of(lambda: client.is_model_ready(model, version))[0] == "StatusCode.NOT_FOUND"
    assert status_of(lambda: client.get_model_metadata(model, version))[0] == "StatusCode.NOT_FOUND"
    assert status_of(lambda: client.load_model("nope"))[0] == "StatusCode.NOT_FOUND"


def test_wrong_shape_is_invalid(client: triton.InferenceServerClient, lr: Trained) -> None:
    status, message = status_of(lambda: client.infer("lr", [fp32(lr.x[:2, :5])]))
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "shape" in message


def test_wrong_datatype_is_invalid(client: triton.InferenceServerClient) -> None:
    texts = np.array(["a"] * 20, dtype=object).reshape(1, 20)
    status, message = status_of(lambda: client.infer("lr", [tensor("input-0", texts, "BYTES")]))
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "FP32" in message


def test_unknown_output_is_invalid(client: triton.InferenceServerClient, lr: Trained) -> None:
    outputs = [triton.InferRequestedOutput("nope")]
    status, message = status_of(lambda: client.infer("lr", [fp32(lr.x[:1])], outputs=outputs))
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "nope" in message


def test_raw_contents_of_wrong_size_are_invalid(client: triton.InferenceServerClient, lr: Trained) -> None:
    entry = fp32(lr.x[:1])
    entry.set_shape([1, 21])  # the data stays 20 floats
    status, message = status_of(lambda: client.infer("lr", [entry]))
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert "80 bytes of binary data" in message
    assert "takes 84" in message


def test_too_large_a_message_is_resource_exhausted(client: triton.InferenceServerClient) -> None:
    big = np.zeros((1, MAX_MESSAGE_BYTES // 4 + 1), dtype=np.float32)
    status, _ = status_of(lambda: client.infer("lr", [fp32(big)]))
    assert status == "StatusCode.RESOURCE_EXHAUSTED"


def test_server_survives_bad_input(client: triton.InferenceServerClient, lr: Trained) -> None:
    bad = fp32(lr.x[:1])
    bad.set_shape([2, 20])
    for call in (
        lambda: client.infer("lr", [bad]),
        lambda: client.infer("lr", [tensor("nope", lr.x[:1], "FP32")]),
        lambda: client.infer("lr", [fp32(lr.x[:1]), tensor("input-1", lr.x[:1], "FP32")]),
        lambda: client.infer("lr", [fp32(np.full((1, 20), np.nan, dtype=np.float32))]),
    ):
        assert status_of(call)[0] == "StatusCode.INVALID_ARGUMENT"
    assert client.is_server_ready()
    np.testing.assert_array_equal(
        client.infer("lr", [fp32(lr.x[:1])]).as_numpy("predict"), lr.model.predict(lr.x[:1])
    )


# -- many calls on one channel ------------------------------------------------------------------
CALLERS = 64
CALLS_EACH = 60


def test_sixty_four_callers_on_one_channel_are_all_answered(served: Served, lr: Trained) -> None:
    """Triton's asyncio client keeps 64 calls in flight on its one channel for a while: every call is
    answered. gRPC core counts a call until the server has released it, after the client saw its
    answer, so with the old limit of 100 streams per connection some calls were refused
    (REFUSED_STREAM: UNAVAILABLE)."""
    expected = lr.model.predict(lr.x[:1])

    async def main() -> list[str]:
        client = triton_aio.InferenceServerClient(served.grpc_address)
        failures: list[str] = []

        async def caller() -> None:
            for _ in range(CALLS_EACH):
                try:
                    result = await client.infer("lr", [fp32(lr.x[:1])])
                except InferenceServerException as exc:
                    failures.append(f"{exc.status()}: {exc.message()}")
                else:
                    np.testing.assert_array_equal(result.as_numpy("predict"), expected)

        try:
            await asyncio.gather(*(caller() for _ in range(CALLERS)))
        finally:
            await client.close()
        return failures

    failures = asyncio.run(main())
    assert failures == [], f"{len(failures)} of {CALLERS * CALLS_EACH} calls failed, first: {failures[0]}"
