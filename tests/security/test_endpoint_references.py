"""Issue 12 item 2: an endpoint reaches only what the principal creating or changing it may call.

Targets, canaries, shadows and custom steps are authorized as the caller (`predict`), at every
change; a reference the caller may not use answers exactly like a reference to nothing, so an
endpoint spec is no oracle for another team's model names, versions or aliases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from berth.core.tensors import InferenceRequest, Tensor
from berth.server.grpc.codec import encode_infer_request
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from tests.security.conftest import World

ENDPOINTS = "/api/v1/endpoints"


@pytest.fixture
def world(any_world: World) -> World:
    """Each test runs on SQLite and on PostgreSQL (owners are read from the database)."""
    return any_world


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


def _answer(response: httpx.Response, *names: str) -> tuple[int, str, str]:
    """Status, code and message, with the referenced names blanked out (to compare their shape)."""
    body = response.json()
    message = str(body["error"])
    for name in names:
        message = message.replace(name, "<NAME>")
    return response.status_code, str(body["code"]), message


def _create(http: httpx.Client, world: World, who: str, name: str, **spec: Any) -> httpx.Response:
    body = {"name": name, "team": "beta", "targets": [{"target": "beta-model@production"}]} | spec
    return http.post(ENDPOINTS, headers=world.auth(who), json=body)


def _delete(http: httpx.Client, world: World, name: str) -> None:
    http.delete(f"{ENDPOINTS}/{name}", headers=world.auth("root"))


def test_a_target_of_another_team_looks_exactly_like_a_missing_one(http: httpx.Client, world: World) -> None:
    cases = {
        # what bob (beta maintainer) names -> what a missing model of the same shape answers
        "alpha-model": "no-such-model",
        "alpha-model:1": "no-such-model:1",
        "alpha-model:99": "no-such-model:99",
        "alpha-model@production": "no-such-model@production",
        "alpha-model@champion": "no-such-model@champion",
    }
    for hidden, missing in cases.items():
        refused = _create(http, world, "bob", "b-front", targets=[{"target": hidden}])
        absent = _create(http, world, "bob", "b-front", targets=[{"target": missing}])
        assert refused.status_code == 400, refused.text
        assert _answer(refused, "alpha-model") == _answer(absent, "no-such-model"), hidden
        assert refused.json()["code"] == "invalid_endpoint"
    assert http.get(f"{ENDPOINTS}/b-front", headers=world.auth("root")).status_code == 404


def test_every_kind_of_reference_is_checked_as_the_caller(http: httpx.Client, world: World) -> None:
    created = _create(http, world, "bob", "b-refs")
    assert created.status_code == 201, created.text
    try:
        stable = [{"target": "beta-model@production", "weight": 100}]
        attempts = {
            "canary": http.post(
                f"{ENDPOINTS}/b-refs/canary",
                headers=world.auth("bob"),
                json={"target": "alpha-model:1", "steps": [10]},
            ),
            "shadow": http.put(
                f"{ENDPOINTS}/b-refs",
                headers=world.auth("bob"),
                json={"targets": stable, "shadows": [{"target": "alpha-model:1", "fraction": 1.0}]},
            ),
            "weights": http.patch(
                f"{ENDPOINTS}/b-refs/weights",
                headers=world.auth("bob"),
                json={"weights": {"alpha-model:1": 5}},
            ),
            "custom step": http.put(
                f"{ENDPOINTS}/b-refs",
                headers=world.auth("bob"),
                json={
                    "targets": stable,
                    "pipeline": {"pre": [{"type": "python", "ref": "alpha-model:1"}]},
                },
            ),
        }
        for what, response in attempts.items():
            assert response.status_code == 400, (what, response.text)
            assert "alpha-model" in response.json()["error"], what
            assert "not found, or the caller may not" in response.json()["error"], what
        step = http.put(
            f"{ENDPOINTS}/b-refs",
            headers=world.auth("bob"),
            json={"targets": stable, "pipeline": {"pre": [{"type": "python", "ref": "no-such-model:1"}]}},
        )
        assert _answer(attempts["custom step"], "alpha-model") == _answer(step, "no-such-model")
        # nothing changed: the endpoint still serves beta's model only
        current = http.get(f"{ENDPOINTS}/b-refs", headers=world.auth("bob")).json()
        assert current["revision"] == 1
        assert "alpha-model" not in str(current)
    finally:
        _delete(http, world, "b-refs")


def test_a_grant_lets_a_team_call_a_model_not_put_it_behind_its_own_endpoint(
    http: httpx.Client, world: World
) -> None:
    """A platform administrator may reference anything; a team granted a model calls it but may
    not re-expose it behind an endpoint of its own (which its grantees could call in turn)."""
    by_root = _create(http, world, "root", "b-root", targets=[{"target": "alpha-model:1"}])
    assert by_root.status_code == 201, by_root.text
    _delete(http, world, "b-root")
    missing = _create(http, world, "bob", "b-granted", targets=[{"target": "no-such-model:1"}])
    assert http.put("/api/v1/grants/alpha-model/beta", headers=world.auth("root")).status_code == 200
    try:
        direct = http.post("/v2/models/alpha-model/infer", headers=world.auth("bob"), json=world.infer_body())
        assert direct.status_code == 200, direct.text
        by_bob = _create(http, world, "bob", "b-granted", targets=[{"target": "alpha-model:1"}])
        assert _answer(by_bob, "alpha-model") == _answer(missing, "no-such-model"), by_bob.text
    finally:
        http.delete("/api/v1/grants/alpha-model/beta", headers=world.auth("root"))
    # an endpoint an administrator put in front of alpha's model: bob's next change is refused
    by_root = _create(http, world, "root", "b-later", targets=[{"target": "alpha-model:1"}])
    assert by_root.status_code == 201, by_root.text
    try:
        change = http.patch(
            f"{ENDPOINTS}/b-later/weights", headers=world.auth("bob"), json={"weights": {"alpha-model:1": 7}}
        )
        assert change.status_code == 400, change.text
        assert change.json()["code"] == "invalid_endpoint"
    finally:
        _delete(http, world, "b-later")


def test_an_endpoint_is_not_a_name_oracle_for_other_teams_endpoints(http: httpx.Client, world: World) -> None:
    """Naming another team's *endpoint* as a target answers like a missing model, not 'is an endpoint'."""
    made = http.post(
        ENDPOINTS,
        headers=world.auth("alice"),
        json={"name": "a-secret-front", "team": "alpha", "targets": [{"target": "alpha-model:1"}]},
    )
    assert made.status_code == 201, made.text
    try:
        hidden = _create(http, world, "bob", "b-probe", targets=[{"target": "a-secret-front"}])
        missing = _create(http, world, "bob", "b-probe", targets=[{"target": "no-such-front"}])
        assert _answer(hidden, "a-secret-front") == _answer(missing, "no-such-front")
        own = http.post(
            ENDPOINTS,
            headers=world.auth("alice"),
            json={"name": "a-loop", "team": "alpha", "targets": [{"target": "a-secret-front"}]},
        )
        assert own.status_code == 400, own.text
        assert "is an endpoint" in own.json()["error"]
    finally:
        _delete(http, world, "a-secret-front")


def test_describing_an_endpoint_shows_its_makeup_only_to_its_readers(
    http: httpx.Client, world: World
) -> None:
    """A team granted an endpoint calls it and sees its signature (REST and gRPC), not what it is
    made of: its targets, steps and tables are for the readers of the endpoint's team."""
    made = _create(http, world, "bob", "b-described")
    assert made.status_code == 201, made.text
    assert http.put("/api/v1/grants/b-described/alpha", headers=world.auth("root")).status_code == 200
    try:
        by_reader = http.get("/v2/models/b-described", headers=world.auth("carol")).json()
        by_grantee = http.get("/v2/models/b-described", headers=world.auth("alice")).json()
        assert by_reader["parameters"]["endpoint"]["targets"][0]["target"] == "beta-model@production"
        assert by_grantee["inputs"] == by_reader["inputs"]
        assert "beta-model" not in str(by_grantee)
        assert set(by_grantee["parameters"]) == {"layout", "default_outputs"}
        auth = (("authorization", f"Bearer {world.tokens['alice']}"),)
        x = np.asarray([world.x[0]], dtype=np.float32)
        message = encode_infer_request(
            InferenceRequest([Tensor("input-0", "FP32", (1, 20), x)]), "b-described"
        )
        with grpc.insecure_channel(world.grpc_address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="b-described"), metadata=auth)
            assert [i.name for i in meta.inputs] == [i["name"] for i in by_reader["inputs"]]
            assert "beta-model" not in str(meta)
            assert len(stub.ModelInfer(message, metadata=auth).outputs) >= 1
    finally:
        http.delete("/api/v1/grants/b-described/alpha", headers=world.auth("root"))
        _delete(http, world, "b-described")
