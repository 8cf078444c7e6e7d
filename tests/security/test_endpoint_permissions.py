"""Endpoints under authentication: they belong to a team like models, a grant shares one for
predictions, and every endpoint change is in the audit trail with who made it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import World


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


def test_endpoints_belong_to_a_team(http: httpx.Client, world: World) -> None:
    spec = {"name": "beta-scoring", "team": "beta", "targets": [{"target": "beta-model@production"}]}
    as_alice = http.post("/api/v1/endpoints", headers=world.auth("alice"), json=spec)  # alpha maintainer
    as_carol = http.post("/api/v1/endpoints", headers=world.auth("carol"), json=spec)  # beta predictor
    created = http.post("/api/v1/endpoints", headers=world.auth("bob"), json=spec)  # beta maintainer
    try:
        assert as_alice.status_code == 403, as_alice.text
        assert as_carol.status_code == 403, as_carol.text
        assert created.status_code == 201, created.text
        assert created.json()["updated_by"] == "bob"
        body = world.infer_body()
        # carol (beta predictor) calls it; alice (other team) and erin (no team) do not even see it
        assert (
            http.post("/v2/models/beta-scoring/infer", headers=world.auth("carol"), json=body).status_code
            == 200
        )
        assert (
            http.post("/v2/models/beta-scoring/infer", headers=world.auth("alice"), json=body).status_code
            == 404
        )
        assert http.get("/api/v1/endpoints/beta-scoring", headers=world.auth("erin")).status_code == 404
        assert "beta-scoring" not in [
            e["name"] for e in http.get("/api/v1/endpoints", headers=world.auth("alice")).json()
        ]
        assert "beta-scoring" in [
            e["name"] for e in http.get("/api/v1/endpoints", headers=world.auth("carol")).json()
        ]
        # changes need a maintainer of beta
        weights = {"weights": {"beta-model@production": 2}}
        assert (
            http.patch(
                "/api/v1/endpoints/beta-scoring/weights", headers=world.auth("carol"), json=weights
            ).status_code
            == 403
        )
        assert (
            http.patch(
                "/api/v1/endpoints/beta-scoring/weights", headers=world.auth("bob"), json=weights
            ).status_code
            == 200
        )
        # a grant shares it with alpha for predictions only
        assert http.put("/api/v1/grants/beta-scoring/alpha", headers=world.auth("root")).status_code == 200
        assert (
            http.post("/v2/models/beta-scoring/infer", headers=world.auth("alice"), json=body).status_code
            == 200
        )
        assert (
            http.post(
                "/api/v1/endpoints/beta-scoring/rollback", headers=world.auth("alice"), json={}
            ).status_code
            == 403
        )
        http.delete("/api/v1/grants/beta-scoring/alpha", headers=world.auth("root"))
        # entity tables are the administrators'
        entities = {"entities": {"c1": {"age": 41}}}
        assert (
            http.put("/api/v1/entities/customers", headers=world.auth("bob"), json=entities).status_code
            == 403
        )
        assert (
            http.put("/api/v1/entities/customers", headers=world.auth("root"), json=entities).status_code
            == 200
        )
    finally:
        http.delete("/api/v1/endpoints/beta-scoring", headers=world.auth("bob"))

    events = http.get(
        "/api/v1/audit",
        headers=world.auth("root"),
        params={"resource_type": "endpoint", "resource_name": "beta-scoring"},
    ).json()
    assert [(e["action"], e["actor"]) for e in events] == [
        ("endpoint.create", "bob"),
        ("endpoint.update", "bob"),
        ("grant.create", "root"),
        ("grant.revoke", "root"),
        ("endpoint.delete", "bob"),
    ]
    assert events[1]["before"]["targets"] == [{"target": "beta-model@production", "weight": 1.0}]
    assert events[1]["after"]["targets"] == [{"target": "beta-model@production", "weight": 2.0}]
    put = http.get(
        "/api/v1/audit",
        headers=world.auth("root"),
        params={"action": "entity.", "resource_name": "customers"},  # other tests write other tables
    ).json()
    assert [(e["action"], e["actor"], e["resource_name"]) for e in put] == [
        ("entity.put", "root", "customers")
    ]
