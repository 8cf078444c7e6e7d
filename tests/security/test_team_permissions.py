"""Teams keep to their own models: no push, alias move, deletion or read across teams; a model a
caller may not read looks exactly like a missing one (404 both); grants share one endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from berth.client.registry import RemoteRegistry
from berth.core.entities import PushRequest
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import InferenceRequest, Tensor
from berth.server.grpc.codec import encode_infer_request
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from tests.conftest import Trained
from tests.security.conftest import World


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


def _as(world: World, who: str) -> RemoteRegistry:
    return RemoteRegistry(world.url, token=world.tokens[who])


def _code(call: Any) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def _reads(http: httpx.Client, world: World, who: str, model: str) -> dict[str, tuple[int, str]]:
    """Status and code of every way to read or call `model`, as `who`."""
    h = world.auth(who)
    calls = {
        "model": http.get(f"/api/v1/models/{model}", headers=h),
        "versions": http.get(f"/api/v1/models/{model}/versions", headers=h),
        "version": http.get(f"/api/v1/models/{model}/versions/1", headers=h),
        "artifact": http.get(f"/api/v1/models/{model}/versions/1/artifact", headers=h),
        "aliases": http.get(f"/api/v1/models/{model}/aliases", headers=h),
        "history": http.get(f"/api/v1/models/{model}/history", headers=h),
        "oip metadata": http.get(f"/v2/models/{model}", headers=h),
        "oip ready": http.get(f"/v2/models/{model}/ready", headers=h),
        "infer": http.post(f"/v2/models/{model}/infer", headers=h, json=world.infer_body()),
        "infer version": http.post(
            f"/v2/models/{model}/versions/1/infer", headers=h, json=world.infer_body()
        ),
        "v1 predict": http.post(f"/v1/models/{model}:predict", headers=h, json={"instances": [world.x[0]]}),
        "load": http.post(f"/v2/repository/models/{model}/load", headers=h),
        "grants": http.get(f"/api/v1/grants/{model}", headers=h),
    }
    return {name: (r.status_code, r.json().get("code", "") if r.content else "") for name, r in calls.items()}


def test_another_teams_model_looks_missing(http: httpx.Client, world: World) -> None:
    hidden = _reads(http, world, "alice", "beta-model")
    missing = _reads(http, world, "alice", "no-such-model")
    assert hidden == missing
    assert set(hidden.values()) == {(404, "model_not_found")}
    # and for someone in no team at all
    assert _reads(http, world, "erin", "beta-model") == _reads(http, world, "erin", "no-such-model")


def test_a_team_cannot_change_another_teams_model(world: World, lr: Trained) -> None:
    alice = _as(world, "alice")
    try:
        push = PushRequest(name="beta-model", team="alpha", input_example=lr.x[:2])
        assert _code(lambda: alice.push_object(lr.model, push)) is ErrorCode.MODEL_NOT_FOUND
        assert _code(lambda: alice.set_alias("beta-model", "production", 1)) is ErrorCode.MODEL_NOT_FOUND
        assert _code(lambda: alice.delete_alias("beta-model", "production")) is ErrorCode.MODEL_NOT_FOUND
        assert (
            _code(lambda: alice.update_metadata("beta-model", 1, {"docs": "x"})) is ErrorCode.MODEL_NOT_FOUND
        )
        assert _code(lambda: alice.alias_history("beta-model")) is ErrorCode.MODEL_NOT_FOUND
        listed = alice.list_models()
        assert "alpha-model" in [m.name for m in listed]
        assert {m.team for m in listed} == {"alpha"}  # beta's models are not even listed
    finally:
        alice.close()
    bob = _as(world, "bob")  # the owner still sees its model unchanged
    try:
        assert bob.get_model("beta-model").aliases == {"production": 1}
        assert bob.get_version("beta-model", "1").metadata.docs == ""
    finally:
        bob.close()


def test_roles_inside_a_team(http: httpx.Client, world: World, lr: Trained) -> None:
    body = world.infer_body()
    # carol: predictor in beta -> reads and calls, may not push or move aliases
    assert http.post("/v2/models/beta-model/infer", headers=world.auth("carol"), json=body).status_code == 200
    assert http.get("/api/v1/models/beta-model", headers=world.auth("carol")).status_code == 200
    carol = _as(world, "carol")
    try:
        push = PushRequest(name="beta-model", input_example=lr.x[:2])
        assert _code(lambda: carol.push_object(lr.model, push)) is ErrorCode.FORBIDDEN
        assert _code(lambda: carol.set_alias("beta-model", "staging", 1)) is ErrorCode.FORBIDDEN
    finally:
        carol.close()
    # dave: reader in alpha -> reads, may not call
    assert http.get("/api/v1/models/alpha-model/history", headers=world.auth("dave")).status_code == 200
    refused = http.post("/v2/models/alpha-model/infer", headers=world.auth("dave"), json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert "predictor" in refused.json()["error"]
    # bob: maintainer in beta -> may push, may not manage the team (admin)
    grant = http.put("/api/v1/grants/beta-model/alpha", headers=world.auth("bob"))
    assert (grant.status_code, grant.json()["code"]) == (403, "forbidden")


def test_a_new_model_goes_only_into_a_team_the_pusher_maintains(world: World, lr: Trained) -> None:
    alice = _as(world, "alice")
    try:
        push = PushRequest(name="alice-new", team="beta", input_example=lr.x[:2])
        assert _code(lambda: alice.push_object(lr.model, push)) is ErrorCode.FORBIDDEN
        pushed = alice.push_object(
            lr.model, PushRequest(name="alice-new", team="alpha", input_example=lr.x[:2])
        )
        assert (pushed.number, pushed.pushed_by) == (1, "alice")  # the token's principal, not a claim
        assert alice.get_model("alice-new").team == "alpha"
    finally:
        alice.close()


def test_a_grant_shares_one_endpoint_for_predictions(http: httpx.Client, world: World) -> None:
    body = world.infer_body()
    message = encode_infer_request(
        InferenceRequest([Tensor("input-0", "FP32", (1, 20), np.asarray([world.x[0]], dtype=np.float32))]),
        "beta-model",
    )
    granted = http.put("/api/v1/grants/beta-model/alpha", headers=world.auth("root"))
    assert granted.status_code == 200, granted.text
    try:
        assert (
            http.post("/v2/models/beta-model/infer", headers=world.auth("alice"), json=body).status_code
            == 200
        )
        assert http.get("/v2/models/beta-model", headers=world.auth("alice")).status_code == 200
        with grpc.insecure_channel(world.grpc_address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            answer = stub.ModelInfer(
                message, metadata=(("authorization", f"Bearer {world.tokens['alice']}"),)
            )
            assert answer.model_name == "beta-model"
            with pytest.raises(grpc.RpcError) as refused:  # erin is in no team: not found, as over REST
                stub.ModelInfer(message, metadata=(("authorization", f"Bearer {world.tokens['erin']}"),))
            assert refused.value.code() is grpc.StatusCode.NOT_FOUND
        # predictor access to that endpoint only: no catalog, records or changes (403: she knows it exists)
        assert http.get("/api/v1/models/beta-model/history", headers=world.auth("alice")).status_code == 403
        assert (
            http.put(
                "/api/v1/models/beta-model/aliases/production",
                headers=world.auth("alice"),
                json={"version": 1},
            ).status_code
            == 403
        )
        # a reader of the grantee team does not get to call it
        assert (
            http.post("/v2/models/beta-model/infer", headers=world.auth("dave"), json=body).status_code == 404
        )
    finally:
        assert http.delete("/api/v1/grants/beta-model/alpha", headers=world.auth("root")).status_code == 204
    assert http.post("/v2/models/beta-model/infer", headers=world.auth("alice"), json=body).status_code == 404


def test_bad_input_is_a_clear_4xx(http: httpx.Client, world: World) -> None:
    root = world.auth("root")
    answers = {
        "unknown role": http.put("/api/v1/teams/alpha/members/zed", headers=root, json={"role": "owner"}),
        "grant to a missing team": http.put("/api/v1/grants/beta-model/ghost", headers=root),
        "member of a missing team": http.put(
            "/api/v1/teams/ghost/members/zed", headers=root, json={"role": "reader"}
        ),
        "invalid team name": http.post("/api/v1/teams", headers=root, json={"name": "../etc"}),
        "malformed json": http.post(
            "/api/v1/teams", headers={**root, "content-type": "application/json"}, content=b"{"
        ),
        "token for a bad name": http.post("/api/v1/tokens", headers=root, json={"principal": "a b"}),
        "token forever": http.post("/api/v1/tokens", headers=root, json={"expires_days": 100000}),
    }
    summary = {label: (r.status_code, r.json()["code"]) for label, r in answers.items()}
    assert all(status == 400 for status, _ in summary.values()), summary
    assert "unknown role 'owner'" in answers["unknown role"].json()["error"]
    assert "team 'ghost' does not exist" in answers["grant to a missing team"].json()["error"]
    missing_token = http.delete("/api/v1/tokens/999999", headers=root)
    assert (missing_token.status_code, missing_token.json()["code"]) == (404, "token_not_found")
    # oversized and malformed headers: refused with a 4xx, never a 500
    huge = {f"x-filler-{i}": "y" * 4000 for i in range(20)}
    assert http.get("/v2", headers={**root, **huge}).status_code in (400, 431)
    assert http.get("/v2", headers={"authorization": "Bearer berth_\u00e9".encode()}).status_code == 401


def test_tokens_are_self_service_and_admin_for_others(http: httpx.Client, world: World) -> None:
    mine = http.post("/api/v1/tokens", headers=world.auth("carol"), json={"description": "ci"})
    assert mine.status_code == 201
    assert mine.json()["token"].startswith("berth_")
    assert mine.json()["principal"] == "carol"
    listed = http.get("/api/v1/tokens", headers=world.auth("carol")).json()
    assert {t["principal"] for t in listed} == {"carol"}
    assert all(t["token"] is None for t in listed)
    forged = http.post("/api/v1/tokens", headers=world.auth("carol"), json={"principal": "root"})
    assert forged.status_code == 403
    elevated = http.post("/api/v1/tokens", headers=world.auth("carol"), json={"admin": True})
    assert elevated.status_code == 403
    someone_else = http.delete(f"/api/v1/tokens/{listed[0]['id'] - 1}", headers=world.auth("carol"))
    assert (someone_else.status_code, someone_else.json()["code"]) == (404, "token_not_found")
    assert http.get("/api/v1/audit", headers=world.auth("carol")).status_code == 403
    revoked = http.delete(f"/api/v1/tokens/{mine.json()['id']}", headers=world.auth("carol"))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    gone = http.get("/v2", headers={"authorization": f"Bearer {mine.json()['token']}"})
    assert (gone.status_code, gone.json()["error"]) == (401, "token revoked")  # at once on this server
