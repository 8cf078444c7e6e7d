"""Issue 12 item 3: entity tables have an owner team; writing one takes a maintainer of it, reading
it through an endpoint's lookup step takes `predict` on it for whoever creates or changes the
endpoint, and a table the caller may not read answers exactly like a missing one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import World

ENTITIES = "/api/v1/entities"
ROWS = {"entities": {"c1": {"age": 41}}}


@pytest.fixture
def world(any_world: World) -> World:
    """Each test runs on SQLite and on PostgreSQL."""
    return any_world


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


def _lookup_endpoint(http: httpx.Client, world: World, who: str, team: str, table: str) -> httpx.Response:
    model = "beta-model@production" if team == "beta" else "alpha-model:1"
    step = {"type": "lookup", "table": table, "key": "id", "features": ["age"]}
    body: dict[str, Any] = {
        "name": f"{team}-lookup",
        "team": team,
        "targets": [{"target": model}],
        "pipeline": {"pre": [step]},
    }
    return http.post("/api/v1/endpoints", headers=world.auth(who), json=body)


def _shape(response: httpx.Response, table: str) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["error"].replace(table, "<TABLE>")


def test_a_team_owns_the_tables_it_creates(http: httpx.Client, world: World) -> None:
    made = http.put(f"{ENTITIES}/beta-customers", headers=world.auth("bob"), json=ROWS | {"team": "beta"})
    assert made.status_code == 200, made.text
    # beta: its predictor reads it, but only a maintainer writes it
    assert http.get(f"{ENTITIES}/beta-customers/c1", headers=world.auth("carol")).status_code == 200
    assert http.put(f"{ENTITIES}/beta-customers", headers=world.auth("carol"), json=ROWS).status_code == 403
    # another team cannot write, read, delete or list it: it does not exist for them
    for who in ("alice", "dave", "erin"):
        for response in (
            http.put(f"{ENTITIES}/beta-customers", headers=world.auth(who), json=ROWS),
            http.get(f"{ENTITIES}/beta-customers/c1", headers=world.auth(who)),
            http.delete(f"{ENTITIES}/beta-customers/c1", headers=world.auth(who)),
        ):
            assert response.status_code == 404, (who, response.text)
            assert response.json()["code"] == "entity_table_not_found"
        assert "beta-customers" not in http.get(ENTITIES, headers=world.auth(who)).json()
    assert http.get(ENTITIES, headers=world.auth("carol")).json().get("beta-customers") == 1
    # a table moves nowhere, and a new table goes only into a team the writer maintains, that exists
    moved = http.put(f"{ENTITIES}/beta-customers", headers=world.auth("root"), json=ROWS | {"team": "alpha"})
    assert moved.status_code == 400, moved.text
    into_alpha = http.put(f"{ENTITIES}/b-other", headers=world.auth("bob"), json=ROWS | {"team": "alpha"})
    assert into_alpha.status_code == 403, into_alpha.text
    nowhere = http.put(f"{ENTITIES}/b-other", headers=world.auth("bob"), json=ROWS | {"team": "no-team"})
    assert nowhere.status_code == 400, nowhere.text
    assert "no-team" not in [t["name"] for t in http.get("/api/v1/teams", headers=world.auth("root")).json()]
    # without a team a new table is the platform's: administrators only
    assert http.put(f"{ENTITIES}/b-other", headers=world.auth("bob"), json=ROWS).status_code == 403


def test_a_lookup_reads_only_a_table_its_endpoints_creator_may_read(http: httpx.Client, world: World) -> None:
    assert http.put(f"{ENTITIES}/platform-secrets", headers=world.auth("root"), json=ROWS).status_code == 200
    assert (
        http.put(f"{ENTITIES}/alpha-customers", headers=world.auth("alice"), json=ROWS | {"team": "alpha"})
    ).status_code == 200
    missing = _lookup_endpoint(http, world, "bob", "beta", "no-such-table")
    assert missing.status_code == 400, missing.text
    assert missing.json()["code"] == "invalid_pipeline"
    for hidden in ("platform-secrets", "alpha-customers"):
        refused = _lookup_endpoint(http, world, "bob", "beta", hidden)
        assert _shape(refused, hidden) == _shape(missing, "no-such-table"), refused.text
    assert http.get("/api/v1/endpoints/beta-lookup", headers=world.auth("root")).status_code == 404
    # alice reads alpha's table through an endpoint of alpha; root reads anything
    own = _lookup_endpoint(http, world, "alice", "alpha", "alpha-customers")
    assert own.status_code == 201, own.text
    http.delete("/api/v1/endpoints/alpha-lookup", headers=world.auth("root"))
    by_root = _lookup_endpoint(http, world, "root", "beta", "platform-secrets")
    assert by_root.status_code == 201, by_root.text
    try:  # but bob may not carry that lookup into a new revision of the endpoint
        change = http.put(
            "/api/v1/endpoints/beta-lookup",
            headers=world.auth("bob"),
            json={k: by_root.json()[k] for k in ("targets", "pipeline")},
        )
        assert _shape(change, "platform-secrets") == _shape(missing, "no-such-table"), change.text
    finally:
        http.delete("/api/v1/endpoints/beta-lookup", headers=world.auth("root"))
