"""Issue 12 item 7: moving an endpoint (or a model) to another team takes a maintainer of both
teams, and a move to a team that does not exist is refused (400); it never creates the team."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import World

SPEC = {"targets": [{"target": "beta-model@production"}]}


@pytest.fixture
def world(any_world: World) -> World:
    """Each test runs on SQLite and on PostgreSQL."""
    return any_world


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


def _teams(http: httpx.Client, world: World) -> set[str]:
    return {t["name"] for t in http.get("/api/v1/teams", headers=world.auth("root")).json()}


def test_an_endpoint_moves_only_between_teams_the_mover_maintains(http: httpx.Client, world: World) -> None:
    made = http.post(
        "/api/v1/endpoints", headers=world.auth("bob"), json=SPEC | {"name": "b-mover", "team": "beta"}
    )
    assert made.status_code == 201, made.text
    try:
        into_alpha = http.put(
            "/api/v1/endpoints/b-mover", headers=world.auth("bob"), json=SPEC | {"team": "alpha"}
        )
        assert into_alpha.status_code == 403, into_alpha.text
        by_alice = http.put(
            "/api/v1/endpoints/b-mover", headers=world.auth("alice"), json=SPEC | {"team": "alpha"}
        )
        assert by_alice.status_code == 404, by_alice.text  # not hers to move: she does not see it
        for who in ("bob", "root"):
            nowhere = http.put(
                "/api/v1/endpoints/b-mover", headers=world.auth(who), json=SPEC | {"team": f"ghost-{who}"}
            )
            assert nowhere.status_code == 400, nowhere.text
            assert nowhere.json()["code"] == "invalid_request"
        assert not {"ghost-bob", "ghost-root"} & _teams(http, world)
        current = http.get("/api/v1/endpoints/b-mover", headers=world.auth("bob")).json()
        assert (current["team"], current["revision"]) == ("beta", 1)
        moved = http.put(
            "/api/v1/endpoints/b-mover", headers=world.auth("root"), json=SPEC | {"team": "alpha"}
        )
        assert moved.status_code == 200, moved.text
        assert http.get("/api/v1/endpoints/b-mover", headers=world.auth("bob")).status_code == 404
    finally:
        http.delete("/api/v1/endpoints/b-mover", headers=world.auth("root"))


def test_a_model_move_to_a_missing_team_is_refused(http: httpx.Client, world: World) -> None:
    for who in ("bob", "root"):
        moved = http.patch("/api/v1/models/beta-model", headers=world.auth(who), json={"team": "ghost-team"})
        assert moved.status_code == 400, moved.text
    assert "ghost-team" not in _teams(http, world)
    assert (
        http.patch("/api/v1/models/beta-model", headers=world.auth("bob"), json={"team": "alpha"}).status_code
        == 403
    )
