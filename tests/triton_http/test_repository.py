"""The model repository extension through tritonclient.http (and its optional body through httpx)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException


@pytest.fixture
def client(served: str) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(served.removeprefix("http://"))
    yield client
    client.close()


def states(client: triton.InferenceServerClient, name: str) -> dict[str, str]:
    return {
        row["version"]: row["state"] for row in client.get_model_repository_index() if row["name"] == name
    }


def test_index_lists_every_version(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index()
    assert {(row["name"], row["version"]) for row in index} >= {
        ("lr", "1"),
        ("lr", "2"),
        ("lr", "3"),
        ("churn", "1"),
        ("router", "1"),
        ("spare", "1"),
    }
    assert all(set(row) == {"name", "version", "state", "reason"} for row in index)
    assert states(client, "churn") == {"1": "READY"}


def test_unload_then_load(client: triton.InferenceServerClient) -> None:
    client.load_model("spare")
    assert states(client, "spare") == {"1": "READY"}
    client.unload_model("spare")
    assert states(client, "spare") == {"1": "UNLOADED"}
    assert not client.is_model_ready("spare")
    client.load_model("spare")
    assert states(client, "spare") == {"1": "READY"}
    assert client.is_model_ready("spare")


def test_index_ready_only(served: str, client: triton.InferenceServerClient) -> None:
    client.unload_model("spare")
    ready = httpx.post(served + "/v2/repository/index", json={"ready": True}).json()
    assert ready
    assert all(row["state"] == "READY" for row in ready)
    assert ("spare", "1") not in {(row["name"], row["version"]) for row in ready}
    client.load_model("spare")


def test_load_a_version_by_parameter(served: str) -> None:
    response = httpx.post(served + "/v2/repository/models/lr/load", json={"parameters": {"version": 1}})
    assert response.status_code == 200, response.text
    index = httpx.post(served + "/v2/repository/index").json()
    assert {"name": "lr", "version": "1", "state": "READY", "reason": ""} in index


def test_unknown_model_and_unsupported_parameters(served: str, client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="nope"):
        client.load_model("nope")
    with pytest.raises(InferenceServerException, match="unsupported parameters"):
        client.load_model("spare", config='{"backend": "onnxruntime"}')
    response = httpx.post(served + "/v2/repository/index", json={"ready": "yes"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
