"""Pipelines served: entity look-up, a custom step from a pushed package and column selection
before the model; threshold, top-k, a label -> team table and business rules after it; over REST
and gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tritonclient.grpc import InferenceServerClient, InferInput

import berth
from berth.core.settings import Settings
from berth.runtime.traffic import sticky_fraction
from tests.conftest import Trained
from tests.endpoints.conftest import create, delete
from tests.support.servers import free_port, server_in_thread

PIPELINE = {
    "pre": [
        {"type": "lookup", "table": "customers", "key": "customer_id", "features": ["age", "spend"]},
        {"type": "python", "ref": "upper-plan:1"},
        {"type": "select", "columns": ["plan", "age", "spend"]},
    ],
    "post": [
        {
            "type": "threshold",
            "column": "predict_proba",
            "class": "stay",
            "threshold": 0.5,
            "into": "likely_stay",
        },
        {"type": "top_k", "column": "predict_proba", "k": 2, "into": "top"},
        {
            "type": "map",
            "column": "predict",
            "into": "team",
            "mapping": {"churn": "retention", "stay": "growth"},
        },
        {"type": "rules", "rules": ['if plan == "pro" then team = "vip-desk"']},
    ],
}


@pytest.fixture(scope="module")
def routed(served: str) -> Iterator[str]:
    customers = {
        "c1": {"age": 30, "spend": 80.0},
        "c2": {"age": 61, "spend": 12.5},
        "c3": {"age": 45, "spend": 20},
    }
    assert httpx.put(f"{served}/api/v1/entities/customers", json={"entities": customers}).json() == {
        "written": 3
    }
    created = create(served, "retention", targets=[{"target": "churn"}], pipeline=PIPELINE)
    assert created.status_code == 201, created.text
    yield served
    delete(served, "retention")


def request(ids: list[str], plans: list[str]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "customer_id", "datatype": "BYTES", "shape": [len(ids)], "data": ids},
            {"name": "plan", "datatype": "BYTES", "shape": [len(plans)], "data": plans},
        ]
    }


def test_pre_and_post_steps_around_the_model(routed: str, frame_pipeline: Trained) -> None:
    answer = httpx.post(
        f"{routed}/v2/models/retention/infer", json=request(["c1", "c2", "c3"], ["BASIC", "Plus", "PRO"])
    )

    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    frame = pd.DataFrame({"plan": ["basic", "plus", "pro"], "age": [30, 61, 45], "spend": [80.0, 12.5, 20.0]})
    model = frame_pipeline.model
    labels = model.predict(frame).tolist()
    proba = model.predict_proba(frame)
    stay = list(model.classes_).index("stay")
    assert outputs["predict"]["data"] == labels
    assert outputs["likely_stay"]["data"] == (proba[:, stay] >= 0.5).tolist()
    order = np.argsort(-proba, axis=1, kind="stable")
    assert outputs["top_labels"]["data"] == model.classes_[order].ravel().tolist()
    assert outputs["top_labels"]["shape"] == [3, 2]
    assert np.allclose(outputs["top_scores"]["data"], np.take_along_axis(proba, order, axis=1).ravel())
    teams = ["retention" if label == "churn" else "growth" for label in labels]
    teams[2] = "vip-desk"
    assert outputs["team"]["data"] == teams
    assert "predict_proba" not in outputs  # not a default output of the model


def test_requested_outputs_pick_from_the_pipeline_answer(routed: str) -> None:
    body = request(["c1"], ["basic"]) | {"outputs": [{"name": "team"}, {"name": "predict_proba"}]}

    outputs = httpx.post(f"{routed}/v2/models/retention/infer", json=body).json()["outputs"]

    assert [o["name"] for o in outputs] == ["team", "predict_proba"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (request(["nobody"], ["basic"]), 422, "entity_not_found"),
        (
            {"inputs": [{"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["basic"]}]},
            422,
            "pipeline_step_failed",
        ),
        (request(["c1"], ["basic"]) | {"outputs": [{"name": "nope"}]}, 400, "output_not_found"),
    ],
)
def test_pipeline_failures_are_clear_4xx(routed: str, body: dict[str, Any], status: int, code: str) -> None:
    answer = httpx.post(f"{routed}/v2/models/retention/infer", json=body)

    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


def test_an_endpoint_over_grpc_with_the_sticky_key_in_metadata(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    for _ in range(2):
        berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    grpc_port = free_port()
    with server_in_thread(Settings(home=home, grpc_port=grpc_port)) as url:
        create(
            url,
            "grpc-ep",
            targets=[{"target": "lr:1"}, {"target": "lr:2"}],
            sticky={"header": "x-customer-id"},
        )
        client = InferenceServerClient(f"127.0.0.1:{grpc_port}")
        tensor = InferInput("input-0", [1, 20], "FP32")
        tensor.set_data_from_numpy(lr.x[:1])
        keyed = {
            key: {
                client.infer("grpc-ep", [tensor], headers={"x-customer-id": key}).get_response().model_version
                for _ in range(5)
            }
            for key in ("k1", "k2", "k3", "k4", "k5", "k6")
        }
        answer = client.infer("grpc-ep", [tensor]).get_response()
        client.close()

    assert all(len(versions) == 1 for versions in keyed.values())
    expected = {k: {"1" if sticky_fraction("grpc-ep", k) < 0.5 else "2"} for k in keyed}
    assert keyed == expected
    assert answer.model_name == "lr"
    assert answer.parameters["endpoint"].string_param == "grpc-ep"
