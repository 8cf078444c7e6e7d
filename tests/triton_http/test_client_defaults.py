"""tritonclient.http with its defaults (binary tensors both ways) against a real berth server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.conftest import Trained


@pytest.fixture
def client(served: str) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(served.removeprefix("http://"))
    yield client
    client.close()


def tensor(name: str, data: np.ndarray[Any, Any], datatype: str, binary: bool = True) -> triton.InferInput:
    """An input set the way tritonclient users do (binary_data=True is its default)."""
    item = triton.InferInput(name, list(data.shape), datatype)
    item.set_data_from_numpy(data, binary_data=binary)
    return item


def test_health_and_server_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "berth"
    assert {"binary_tensor_data", "model_repository"} <= set(meta["extensions"])


def test_model_metadata_and_readiness(client: triton.InferenceServerClient) -> None:
    meta = client.get_model_metadata("churn")
    assert meta["platform"] == "sklearn"
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("plan", "BYTES"),
        ("age", "INT64"),
        ("spend", "FP64"),
    ]
    assert client.get_model_metadata("lr", model_version="staging")["parameters"]["version"] == "3"
    assert client.is_model_ready("lr")
    assert client.is_model_ready("lr", model_version="production")
    assert not client.is_model_ready("nope")


@pytest.mark.parametrize("rows", [1, 7])
def test_fp32_rows_default_outputs(client: triton.InferenceServerClient, lr: Trained, rows: int) -> None:
    x = lr.x[:rows]
    result = client.infer("lr", [tensor("input-0", x, "FP32")])
    assert result.get_response()["model_version"] == "2"
    [output] = result.get_response()["outputs"]
    assert output["parameters"]["binary_data_size"] == rows * 8  # binary_data_output: all outputs binary
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(x))


def test_int64_input_reaches_a_float_model(client: triton.InferenceServerClient, lr: Trained) -> None:
    x = np.arange(40, dtype=np.int64).reshape(2, 20) % 3 - 1
    result = client.infer("lr", [tensor("input-0", x, "INT64")])
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(x.astype(np.float32)))


@pytest.mark.parametrize(("ref", "number"), [("1", "1"), ("production", "2"), ("staging", "3")])
def test_model_version_number_or_alias(
    client: triton.InferenceServerClient, lr: Trained, ref: str, number: str
) -> None:
    result = client.infer("lr", [tensor("input-0", lr.x[:3], "FP32")], model_version=ref)
    assert result.get_response()["model_version"] == number
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:3]))


def test_requested_outputs_binary_and_json_mixed(client: triton.InferenceServerClient, lr: Trained) -> None:
    x = lr.x[:4]
    outputs = [
        triton.InferRequestedOutput("predict_proba"),  # binary by default
        triton.InferRequestedOutput("predict", binary_data=False),
    ]
    result = client.infer("lr", [tensor("input-0", x, "FP32")], outputs=outputs, request_id="r-1")
    assert result.get_response()["id"] == "r-1"
    proba = result.get_output("predict_proba")
    assert proba["parameters"]["binary_data_size"] == result.as_numpy("predict_proba").nbytes == 4 * 2 * 4
    assert proba["datatype"] == "FP32"
    assert result.get_output("predict")["data"] == lr.model.predict(x).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), lr.model.predict_proba(x), rtol=1e-6)
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(x))


def test_all_outputs_as_json(client: triton.InferenceServerClient, lr: Trained) -> None:
    outputs = [triton.InferRequestedOutput("predict", binary_data=False)]
    result = client.infer("lr", [tensor("input-0", lr.x[:2], "FP32", binary=False)], outputs=outputs)
    assert result.get_output("predict")["data"] == lr.model.predict(lr.x[:2]).tolist()


def test_dataframe_model_with_bytes_int64_fp64_columns(
    client: triton.InferenceServerClient, frame_pipeline: Trained
) -> None:
    rows = frame_pipeline.x.head(5)
    inputs = [
        tensor("plan", rows["plan"].to_numpy(dtype=object), "BYTES"),
        tensor("age", rows["age"].to_numpy(dtype=np.int64), "INT64", binary=False),  # JSON beside binary
        tensor("spend", rows["spend"].to_numpy(dtype=np.float64), "FP64"),
    ]
    result = client.infer("churn", inputs, outputs=[triton.InferRequestedOutput("predict")])
    labels = [label.decode() for label in result.as_numpy("predict")]
    assert labels == frame_pipeline.model.predict(rows).tolist()


def test_text_pipeline_strings_in_labels_out(
    client: triton.InferenceServerClient, text_pipeline: Trained
) -> None:
    texts = np.array(["my card was stolen", "what is my balance", "lost card"], dtype=object)
    result = client.infer("router", [tensor("input-0", texts, "BYTES")])
    assert result.get_output("predict")["datatype"] == "BYTES"
    assert result.as_numpy("predict").tolist() == [b"card_lost", b"balance", b"card_lost"]
    assert result.as_numpy("predict").tolist() == [
        label.encode() for label in text_pipeline.model.predict(texts.tolist())
    ]


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request_and_response(
    client: triton.InferenceServerClient, lr: Trained, algorithm: str
) -> None:
    result = client.infer(
        "lr",
        [tensor("input-0", lr.x[:5], "FP32")],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:5]))


def test_errors_reach_the_client(client: triton.InferenceServerClient, lr: Trained) -> None:
    with pytest.raises(InferenceServerException, match="no output 'nope'"):
        client.infer(
            "lr", [tensor("input-0", lr.x[:1], "FP32")], outputs=[triton.InferRequestedOutput("nope")]
        )
    with pytest.raises(InferenceServerException, match=r"unknown inputs \['x'\]"):
        client.infer("lr", [tensor("x", lr.x[:1], "FP32")])
    with pytest.raises(InferenceServerException, match="nope"):
        client.infer("nope", [tensor("input-0", lr.x[:1], "FP32")])
