"""The Open Inference Protocol V2 REST surface, end to end against a real server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.support.servers import server_in_thread


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained, text_pipeline: Trained
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("rest") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], metrics={"accuracy": 0.9})
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["staging"])
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    berth.push(text_pipeline.model, name="router", home=home, input_example=text_pipeline.x[:2])
    settings = Settings(home=home, poll_interval_s=0.1, max_body_bytes=200_000)
    with server_in_thread(settings) as url:
        yield url


def row_request(x: np.ndarray[Any, Any], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ],
        **extra,
    }


def post(url: str, path: str, body: Any = None, content: bytes | None = None) -> httpx.Response:
    if content is not None:
        return httpx.post(
            url + path, content=content, headers={"content-type": "application/json"}, timeout=30
        )
    return httpx.post(url + path, json=body, timeout=30)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body["error"]


def test_health_and_server_metadata(served: str) -> None:
    assert httpx.get(served + "/v2/health/live").json() == {"live": True}
    assert httpx.get(served + "/v2/health/ready").status_code == 200
    meta = httpx.get(served + "/v2").json()
    assert meta["name"] == "berth"
    assert "version" in meta
    assert "extensions" in meta


def test_bare_name_means_production_alias(served: str, lr: Trained) -> None:
    response = post(served, "/v2/models/lr/infer", row_request(lr.x[:1]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "lr"
    assert body["model_version"] == "2"
    [out] = body["outputs"]
    assert out["name"] == "predict"
    assert out["data"] == lr.model.predict(lr.x[:1]).tolist()


@pytest.mark.parametrize(
    ("ref", "number"), [("1", "1"), ("production", "2"), ("staging", "3"), ("latest", "3")]
)
def test_version_or_alias_in_path(served: str, lr: Trained, ref: str, number: str) -> None:
    response = post(served, f"/v2/models/lr/versions/{ref}/infer", row_request(lr.x[:4]))
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == number
    assert response.json()["outputs"][0]["data"] == lr.model.predict(lr.x[:4]).tolist()


def test_requested_outputs_and_request_id(served: str, lr: Trained) -> None:
    body = row_request(lr.x[:2], id="req-42", outputs=[{"name": "predict_proba"}, {"name": "predict"}])
    answer = post(served, "/v2/models/lr/infer", body).json()
    assert answer["id"] == "req-42"
    proba, labels = answer["outputs"]
    assert proba["name"] == "predict_proba"
    assert proba["shape"] == [2, 2]
    np.testing.assert_allclose(
        np.array(proba["data"]).reshape(2, 2), lr.model.predict_proba(lr.x[:2]), rtol=1e-5
    )
    assert labels["data"] == lr.model.predict(lr.x[:2]).tolist()


def test_dataframe_model_served_as_columns(served: str, frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.head(3)
    body = {
        "inputs": [
            {"name": "plan", "shape": [3], "datatype": "BYTES", "data": rows["plan"].tolist()},
            {"name": "age", "shape": [3], "datatype": "INT64", "data": rows["age"].tolist()},
            {"name": "spend", "shape": [3], "datatype": "FP64", "data": rows["spend"].tolist()},
        ]
    }
    answer = post(served, "/v2/models/churn/infer", body)
    assert answer.status_code == 200, answer.text
    [out] = answer.json()["outputs"]
    assert out["datatype"] == "BYTES"
    assert out["data"] == frame_pipeline.model.predict(rows).tolist()


def test_text_model_takes_strings(served: str, text_pipeline: Trained) -> None:
    body = {
        "inputs": [
            {"name": "input-0", "shape": [2], "datatype": "BYTES", "data": ["card stolen", "my balance"]}
        ]
    }
    answer = post(served, "/v2/models/router/infer", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == ["card_lost", "balance"]


def test_model_metadata_and_readiness(served: str) -> None:
    meta = httpx.get(served + "/v2/models/churn").json()
    assert meta["name"] == "churn"
    assert meta["platform"] == "sklearn"
    assert [i["name"] for i in meta["inputs"]] == ["plan", "age", "spend"]
    assert {o["name"] for o in meta["outputs"]} >= {"predict", "predict_proba"}
    assert httpx.get(served + "/v2/models/lr/versions/staging").json()["parameters"]["version"] == "3"
    assert httpx.get(served + "/v2/models/lr/ready").status_code == 200
    assert httpx.get(served + "/v2/models/lr/versions/production/ready").json()["ready"] is True


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"instances": [[0.1] * 20, [0.2] * 20]}, "predictions"),  # TF-Serving row format
        ({"inputs": [[0.1] * 20, [0.2] * 20]}, "outputs"),  # TF-Serving columnar format answers columnar
    ],
)
def test_tf_serving_shapes(served: str, lr: Trained, body: dict[str, Any], key: str) -> None:
    answer = post(served, "/v1/models/lr:predict", body)
    assert answer.status_code == 200, answer.text
    expected = lr.model.predict(np.array([[0.1] * 20, [0.2] * 20], dtype=np.float32)).tolist()
    assert answer.json()[key] == expected


def test_mlflow_shapes(served: str, frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.head(2)
    expected = frame_pipeline.model.predict(rows).tolist()
    records = post(served, "/v1/models/churn:predict", {"dataframe_records": rows.to_dict(orient="records")})
    assert records.status_code == 200, records.text
    assert records.json()["predictions"] == expected
    split = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
    answer = post(served, "/v1/models/churn/versions/latest:predict", split)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == expected


# -- bad input: a clear 4xx with a stable code, and the server keeps serving --------------------
@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v2/models/nope/infer", 404, "model_not_found"),
        ("/v2/models/lr/versions/99/infer", 404, "version_not_found"),
        ("/v2/models/lr/versions/canary/infer", 404, "alias_not_found"),
    ],
)
def test_unknown_names_are_404(served: str, lr: Trained, path: str, status: int, code: str) -> None:
    assert_error(post(served, path, row_request(lr.x[:1])), status, code)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_json"),
        (b'{"inputs": []}', "invalid_request"),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": [1, 2]}]}',
            "invalid_tensor",
        ),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP99", "data": []}]}',
            "unsupported_datatype",
        ),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}',
            "signature_mismatch",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1, 20], "datatype": "FP32", "data": '
            + str([0.0] * 20).encode()
            + b"}]}",
            "signature_mismatch",
        ),
        (
            b'{"inputs": [{"name": "input-0", "shape": [0, 20], "datatype": "FP32", "data": []}]}',
            "empty_batch",
        ),
        (
            b'{"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "BYTES", "data": '
            + str(["a"] * 20).replace("'", '"').encode()
            + b"}]}",
            "signature_mismatch",
        ),
    ],
)
def test_malformed_requests_are_400(served: str, content: bytes, code: str) -> None:
    assert_error(post(served, "/v2/models/lr/infer", content=content), 400, code)


def test_nan_is_refused_where_the_model_cannot_take_it(served: str) -> None:
    content = (
        b'{"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": ["NaN"'
        + b", 0.0" * 19
        + b"]}]}"
    )
    assert_error(post(served, "/v2/models/lr/infer", content=content), 400, "nan_not_allowed")


def test_unknown_output_is_400(served: str, lr: Trained) -> None:
    body = row_request(lr.x[:1], outputs=[{"name": "nope"}])
    assert_error(post(served, "/v2/models/lr/infer", body), 400, "output_not_found")


def test_oversized_body_is_413(served: str) -> None:
    assert_error(
        post(served, "/v2/models/lr/infer", content=b"[" + b"0," * 200_000 + b"0]"), 413, "payload_too_large"
    )


def test_unknown_route_and_method(served: str) -> None:
    assert_error(httpx.get(served + "/v3/nothing"), 404, "route_not_found")
    assert_error(httpx.get(served + "/v2/models/lr/infer"), 405, "method_not_allowed")


def test_server_survives_bad_input(served: str, lr: Trained) -> None:
    for content in (b"", b"\x00\xff", b'{"inputs": "x"}', b"null", b'{"inputs": [null]}'):
        response = post(served, "/v2/models/lr/infer", content=content)
        assert 400 <= response.status_code < 500, response.text
    assert post(served, "/v2/models/lr/infer", row_request(lr.x[:1])).status_code == 200
