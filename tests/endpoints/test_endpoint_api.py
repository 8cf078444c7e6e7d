"""The endpoint API and serving an endpoint like a model, against a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import berth
from tests.conftest import Trained
from tests.endpoints.conftest import create, delete, rows


def test_an_endpoint_is_called_like_a_model_and_says_who_answered(served: str, lr: Trained) -> None:
    created = create(served, "scoring", targets=[{"target": "lr@production"}], actor="alice", reason="launch")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["revision"], body["updated_by"], body["targets"]) == (
        1,
        "alice",
        [{"target": "lr@production", "weight": 1.0}],
    )
    assert body["serving"]["variants"] == [
        {"target": "lr@production", "role": "stable", "model": "lr", "version": 1, "share": 1.0}
    ]

    answer = httpx.post(f"{served}/v2/models/scoring/infer", json=rows(lr.x[:2], id="r1"))

    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert (doc["model_name"], doc["model_version"], doc["id"]) == ("lr", "1", "r1")
    assert doc["parameters"] == {"endpoint": "scoring", "variant": "lr@production"}
    assert answer.headers["berth-model"] == "lr"
    assert answer.headers["berth-model-version"] == "1"
    assert answer.headers["berth-endpoint"] == "scoring"
    assert answer.headers["berth-variant"] == "lr@production"
    assert doc["outputs"][0]["data"] == lr.model.predict(lr.x[:2]).tolist()
    delete(served, "scoring")


def test_endpoint_metadata_readiness_and_listing(served: str) -> None:
    create(served, "meta-ep", targets=[{"target": "lr:2"}], description="for metadata")

    meta = httpx.get(f"{served}/v2/models/meta-ep").json()
    ready = httpx.get(f"{served}/v2/models/meta-ep/ready")
    listed = httpx.get(f"{served}/api/v1/endpoints").json()

    assert meta["name"] == "meta-ep"
    assert meta["inputs"][0]["name"] == "input-0"
    assert meta["parameters"]["endpoint"]["targets"] == [{"target": "lr:2", "weight": 1.0}]
    assert ready.status_code == 200
    assert [e["name"] for e in listed] == ["meta-ep"]
    assert httpx.get(f"{served}/v2/models/meta-ep/versions/1").status_code == 404
    assert httpx.post(f"{served}/v2/models/meta-ep/versions/1/infer", json={}).json()["code"] == (
        "version_not_found"
    )
    delete(served, "meta-ep")


def test_changes_are_served_at_once_and_kept_in_history(served: str, lr: Trained) -> None:
    create(served, "hist", targets=[{"target": "lr@production"}], actor="alice")
    replaced = httpx.put(
        f"{served}/api/v1/endpoints/hist",
        json={"targets": [{"target": "lr:3"}], "expected_revision": 1, "actor": "bob", "reason": "v3"},
    )
    assert replaced.status_code == 200, replaced.text
    assert httpx.post(f"{served}/v2/models/hist/infer", json=rows(lr.x[:1])).json()["model_version"] == "3"

    stale = httpx.put(
        f"{served}/api/v1/endpoints/hist", json={"targets": [{"target": "lr:1"}], "expected_revision": 1}
    )
    rolled = httpx.post(f"{served}/api/v1/endpoints/hist/rollback", json={"actor": "carol"})
    history = httpx.get(f"{served}/api/v1/endpoints/hist/history").json()

    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict"
    assert rolled.status_code == 200
    assert rolled.json()["targets"][0]["target"] == "lr@production"
    assert httpx.post(f"{served}/v2/models/hist/infer", json=rows(lr.x[:1])).json()["model_version"] == "1"
    assert [(e["revision"], e["kind"], e["actor"]) for e in history] == [
        (1, "create", "alice"),
        (2, "update", "bob"),
        (3, "rollback", "carol"),
    ]
    assert history[1]["before"]["targets"][0]["target"] == "lr@production"
    delete(served, "hist")


def test_weights_add_targets_and_the_split_follows(served: str) -> None:
    create(served, "weights", targets=[{"target": "lr:1", "weight": 1}])

    changed = httpx.patch(
        f"{served}/api/v1/endpoints/weights/weights", json={"weights": {"lr:1": 3, "lr:2": 1}}
    ).json()

    shares = {v["target"]: v["share"] for v in changed["serving"]["variants"]}
    assert shares == {"lr:1": 0.75, "lr:2": 0.25}
    delete(served, "weights")


def test_moving_the_alias_behind_an_endpoint_moves_it(served: str, lr: Trained) -> None:
    create(served, "follows", targets=[{"target": "lr@staging"}])
    try:
        assert (
            httpx.post(f"{served}/v2/models/follows/infer", json=rows(lr.x[:1])).json()["model_version"]
            == "2"
        )
        httpx.put(f"{served}/api/v1/models/lr/aliases/staging", json={"version": 3}).raise_for_status()
        assert (
            httpx.post(f"{served}/v2/models/follows/infer", json=rows(lr.x[:1])).json()["model_version"]
            == "3"
        )
    finally:
        httpx.put(f"{served}/api/v1/models/lr/aliases/staging", json={"version": 2})
        delete(served, "follows")


@pytest.mark.parametrize(
    ("spec", "code", "fragment"),
    [
        ({"targets": [{"target": "lr:1", "weight": 0}]}, "invalid_endpoint", "positive"),
        ({"targets": []}, "invalid_request", "targets"),
        ({"targets": [{"target": "nope@production"}]}, "invalid_endpoint", "nope"),
        ({"targets": [{"target": "lr:99"}]}, "invalid_endpoint", "lr:99"),
        ({"targets": [{"target": "lr@canary-missing"}]}, "invalid_endpoint", "canary-missing"),
        ({"targets": [{"target": "lr:1"}, {"target": "lr:1"}]}, "invalid_endpoint", "twice"),
        (
            {"targets": [{"target": "lr"}], "pipeline": {"pre": [{"type": "nope"}]}},
            "invalid_pipeline",
            "nope",
        ),
        (
            {"targets": [{"target": "lr"}], "pipeline": {"post": [{"type": "rules", "rules": ["if then"]}]}},
            "invalid_pipeline",
            "rules",
        ),
        ({"targets": [{"target": "lr"}], "sticky": {}}, "invalid_endpoint", "sticky"),
        (
            {"targets": [{"target": "lr"}], "canary": {"target": "lr:2", "steps": [50, 10]}},
            "invalid_endpoint",
            "steps",
        ),
        (
            {"targets": [{"target": "lr"}], "pipeline": {"pre": [{"type": "python", "ref": "lr:1"}]}},
            "invalid_pipeline",
            "pyfunc",
        ),
        (
            {"targets": [{"target": "lr"}], "shadows": [{"target": "lr:2", "fraction": 2}]},
            "invalid_request",
            "fraction",
        ),
    ],
)
def test_invalid_endpoints_are_refused_and_never_served(
    served: str, spec: dict[str, Any], code: str, fragment: str
) -> None:
    refused = create(served, "bad", **spec)

    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == code
    assert fragment in refused.text
    assert httpx.get(f"{served}/api/v1/endpoints/bad").status_code == 404


def test_an_invalid_change_leaves_the_endpoint_serving(served: str, lr: Trained) -> None:
    create(served, "keep", targets=[{"target": "lr:1"}])

    refused = httpx.put(f"{served}/api/v1/endpoints/keep", json={"targets": [{"target": "ghost:1"}]})

    assert refused.status_code == 400
    assert httpx.post(f"{served}/v2/models/keep/infer", json=rows(lr.x[:1])).json()["model_version"] == "1"
    assert httpx.get(f"{served}/api/v1/endpoints/keep").json()["revision"] == 1
    delete(served, "keep")


def test_endpoints_and_models_share_one_namespace(served: str) -> None:
    create(served, "taken", targets=[{"target": "lr"}])

    as_endpoint = create(served, "lr", targets=[{"target": "lr"}])
    cycle = create(served, "cycle", targets=[{"target": "taken"}])

    assert as_endpoint.status_code == 409
    assert as_endpoint.json()["code"] == "already_exists"
    assert cycle.status_code == 400
    assert "endpoint" in cycle.json()["error"]
    delete(served, "taken")


def test_unknown_endpoint_operations_are_404(served: str) -> None:
    for response in (
        httpx.get(f"{served}/api/v1/endpoints/ghost"),
        httpx.get(f"{served}/api/v1/endpoints/ghost/history"),
        httpx.get(f"{served}/api/v1/endpoints/ghost/stats"),
        httpx.post(f"{served}/api/v1/endpoints/ghost/rollback", json={}),
        httpx.delete(f"{served}/api/v1/endpoints/ghost"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "endpoint_not_found"


def test_rollback_without_history_is_a_conflict(served: str) -> None:
    create(served, "fresh", targets=[{"target": "lr"}])

    refused = httpx.post(f"{served}/api/v1/endpoints/fresh/rollback", json={})

    assert refused.status_code == 409
    assert "no earlier state" in refused.json()["error"]
    delete(served, "fresh")


def test_an_endpoint_answers_tf_serving_and_mlflow_json_on_v1(
    served: str, lr: Trained, frame_pipeline: Trained
) -> None:
    """``/v1/models/{endpoint}:predict`` serves an endpoint as ``/v2`` does (it answered 404)."""
    create(served, "v1-scoring", targets=[{"target": "lr@production"}])
    create(served, "v1-churn", targets=[{"target": "churn"}])

    tf = httpx.post(f"{served}/v1/models/v1-scoring:predict", json={"instances": lr.x[:2].tolist()})
    rows = frame_pipeline.x.head(2)
    mlflow = httpx.post(
        f"{served}/v1/models/v1-churn:predict", json={"dataframe_records": rows.to_dict(orient="records")}
    )
    versioned = httpx.post(f"{served}/v1/models/v1-scoring/versions/1:predict", json={"instances": []})

    assert tf.status_code == 200, tf.text
    assert tf.json() == {"predictions": lr.model.predict(lr.x[:2]).tolist()}
    assert tf.headers["berth-model"] == "lr"  # who answered, named as on /v2 and gRPC
    assert tf.headers["berth-model-version"] == "1"
    assert tf.headers["berth-endpoint"] == "v1-scoring"
    assert tf.headers["berth-variant"] == "lr@production"
    assert tf.headers["berth-prediction-id"]
    assert mlflow.json() == {"predictions": frame_pipeline.model.predict(rows).tolist()}
    assert (versioned.status_code, versioned.json()["code"]) == (404, "version_not_found")
    delete(served, "v1-scoring")
    delete(served, "v1-churn")


def test_v1_values_suit_every_variant_even_where_their_signatures_differ(
    served: str, frame_pipeline: Trained
) -> None:
    """`age` is FP64 for the first target (pushed without an example) and INT64 for the second: a
    JSON integer is read as an integer, which both take, not as the first target's float."""
    floats = berth.push(frame_pipeline.model, name="churn-floats", url=served)
    age = floats.signature.input("age")
    assert age is not None
    assert age.datatype == "FP64"
    targets = [{"target": "churn-floats", "weight": 50}, {"target": "churn", "weight": 50}]
    create(served, "v1-mixed", targets=targets)
    rows = frame_pipeline.x.head(1)
    body = {"dataframe_records": rows.to_dict(orient="records")}
    expected = {"predictions": frame_pipeline.model.predict(rows).tolist()}
    answered: set[str] = set()
    for _ in range(200):  # random variants: until both have answered
        answer = httpx.post(f"{served}/v1/models/v1-mixed:predict", json=body)
        assert (answer.status_code, answer.json()) == (200, expected), answer.text
        answered.add(answer.headers["berth-variant"])
        if len(answered) == 2:
            break
    assert answered == {"churn-floats", "churn"}
    delete(served, "v1-mixed")
