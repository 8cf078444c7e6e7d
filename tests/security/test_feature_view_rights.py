"""Issue 16 item 6: feature views belong to teams. Defining one in a team takes a maintainer of it;
reading it takes a reader, writing it a maintainer; referencing it from an endpoint takes `predict`
on it from a role in its team, checked at creation and at every change; and a view another team
may not read answers exactly like a missing one (in lists too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import World

VIEWS = "/api/v1/features/views"
BETA_VIEW = {
    "name": "beta-profile",
    "team": "beta",
    "entity": "customer_id",
    "features": {"age": "int64"},
}
VALUES = {"values": {"c1": {"age": 41}}}


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


@pytest.fixture
def beta_view(http: httpx.Client, world: World) -> Iterator[str]:
    made = http.post(VIEWS, headers=world.auth("bob"), json=BETA_VIEW)
    assert made.status_code == 201, made.text
    assert made.json()["team"] == "beta"
    yield "beta-profile"
    http.delete("/api/v1/endpoints/beta-scoring", headers=world.auth("root"))
    http.delete(f"{VIEWS}/beta-profile", headers=world.auth("root"))


def _endpoint(http: httpx.Client, world: World, who: str, team: str, view: str, method: str = "POST") -> Any:
    model = "beta-model@production" if team == "beta" else "alpha-model:1"
    step = {"type": "features", "views": [{"view": view, "key": "customer_id"}]}
    body: dict[str, Any] = {"targets": [{"target": model}], "pipeline": {"pre": [step]}}
    if method == "POST":
        return http.post(
            "/api/v1/endpoints",
            headers=world.auth(who),
            json=body | {"name": f"{team}-scoring", "team": team},
        )
    return http.put(f"/api/v1/endpoints/{team}-scoring", headers=world.auth(who), json=body)


def _shape(response: httpx.Response, name: str) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["error"].replace(name, "<VIEW>")


def test_a_team_owns_its_views(http: httpx.Client, world: World, beta_view: str) -> None:
    path = f"{VIEWS}/{beta_view}"
    # beta's predictor reads it, only a maintainer writes or changes it
    assert http.get(path, headers=world.auth("carol")).status_code == 200
    read = http.post(f"{path}/read", headers=world.auth("carol"), json={"keys": ["c1"]})
    assert read.status_code == 200, read.text
    for response in (
        http.put(f"{path}/values", headers=world.auth("carol"), json=VALUES),
        http.patch(path, headers=world.auth("carol"), json={"ttl_s": 60}),
        http.post(f"{path}/stream", headers=world.auth("carol"), content=b'{"key": "c1", "values": {}}\n'),
        http.delete(path, headers=world.auth("carol")),
    ):
        assert response.status_code == 403, response.text
    assert http.put(f"{path}/values", headers=world.auth("bob"), json=VALUES).json() == {"written": 1}
    # another team cannot see, read, write, change or delete it: it does not exist for them
    missing = http.get(f"{VIEWS}/no-such-view", headers=world.auth("alice"))
    for who in ("alice", "dave", "erin"):
        for response in (
            http.get(path, headers=world.auth(who)),
            http.post(f"{path}/read", headers=world.auth(who), json={"keys": ["c1"]}),
            http.put(f"{path}/values", headers=world.auth(who), json=VALUES),
            http.post(f"{path}/stream", headers=world.auth(who), content=b'{"key": "c1", "values": {}}\n'),
            http.patch(path, headers=world.auth(who), json={"ttl_s": 60}),
            http.delete(path, headers=world.auth(who)),
        ):
            assert _shape(response, beta_view) == _shape(missing, "no-such-view"), (who, response.text)
        assert beta_view not in [v["name"] for v in http.get(VIEWS, headers=world.auth(who)).json()]
    assert beta_view in [v["name"] for v in http.get(VIEWS, headers=world.auth("carol")).json()]
    # a view is made only in a team its maker maintains
    into_alpha = http.post(VIEWS, headers=world.auth("bob"), json=BETA_VIEW | {"name": "b2", "team": "alpha"})
    assert into_alpha.status_code == 403, into_alpha.text


def test_an_endpoint_reads_only_views_its_changer_may_read(
    http: httpx.Client, world: World, beta_view: str
) -> None:
    missing = _endpoint(http, world, "alice", "alpha", "no-such-view")
    assert missing.status_code == 400, missing.text
    assert missing.json()["code"] == "invalid_pipeline"
    refused = _endpoint(http, world, "alice", "alpha", beta_view)
    assert _shape(refused, beta_view) == _shape(missing, "no-such-view"), refused.text
    assert http.get("/api/v1/endpoints/alpha-scoring", headers=world.auth("root")).status_code == 404
    made = _endpoint(http, world, "bob", "beta", beta_view)
    assert made.status_code == 201, made.text
    # the view an endpoint reads cannot go away under it
    assert http.delete(f"{VIEWS}/{beta_view}", headers=world.auth("bob")).status_code == 409
    # a change is checked again, as the principal making it: root may, a stranger to beta may not
    assert _endpoint(http, world, "root", "beta", beta_view, method="PUT").status_code == 200
    erin = _endpoint(http, world, "erin", "beta", beta_view, method="PUT")
    assert erin.status_code in (403, 404), erin.text
