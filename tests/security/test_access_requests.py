"""Access requests and expiring grants against a real server with authentication on (API tokens).

    team alpha (the owner): ada admin, abe maintainer (not an admin)
    team beta (asks):       bea predictor, ben reader
    team gamma (a bystander): cal admin
    root: platform admin

alpha's models: 'shared-*' discoverable (each test asks for its own), 'private-model' private.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import update

import berth
from berth.core.access import Role
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.schema import models
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_in_thread

MEMBERS = {
    "ada": ("alpha", Role.ADMIN),
    "abe": ("alpha", Role.MAINTAINER),
    "bea": ("beta", Role.PREDICTOR),
    "ben": ("beta", Role.READER),
    "cal": ("gamma", Role.ADMIN),
}
SHARED = ("shared-approve", "shared-deny", "shared-expiring", "shared-clock", "shared-sdk")


@dataclass(frozen=True)
class World:
    url: str
    database_url: str
    tokens: dict[str, str]
    body: dict[str, Any]

    def http(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )

    def security_generation(self) -> int:
        store = SqlSecurityStore(self.database_url, migrate=False)
        try:
            return store.generations()[1]
        finally:
            store.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("access") / "home"
    for name in (*SHARED, "private-model"):
        berth.push(lr.model, name=name, home=home, input_example=lr.x[:3], team="alpha")
    database_url = Settings(home=home).resolved_database_url
    store = SqlSecurityStore(database_url)
    try:
        for team in ("beta", "gamma"):
            store.create_team(team)
        for principal, (team, role) in MEMBERS.items():
            store.set_member(team, principal, role)
        tokens = {p: store.create_token(p, admin=p == "root").secret for p in (*MEMBERS, "root")}
        with store.engine.begin() as conn:  # the catalog's visibility column
            conn.execute(update(models).where(models.c.name.in_(SHARED)).values(visibility="discoverable"))
    finally:
        store.close()
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": lr.x[0].tolist()}]}
    settings = Settings(home=home, poll_interval_s=0.1, auth="tokens")
    with server_in_thread(settings) as url:
        yield World(url, database_url, tokens, body)


def _ask(world: World, who: str, target: str, team: str = "beta") -> httpx.Response:
    with world.http(who) as http:
        return http.post(
            "/api/v1/access-requests", json={"target": target, "team": team, "reason": "campaign"}
        )


def _predict(world: World, who: str, model: str) -> int:
    with world.http(who) as http:
        return http.post(f"/v2/models/{model}/infer", json=world.body).status_code


def _call(world: World, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with world.http(who) as http:
        return http.request(method, path, **kwargs)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_asked_approved_with_an_expiry_then_called(world: World) -> None:
    assert _predict(world, "bea", "shared-approve") in (403, 404)  # discoverable is not callable
    made = _ask(world, "bea", "shared-approve")
    assert made.status_code == 201, made.text
    request = made.json()
    assert (request["status"], request["owner_team"], request["requester"]) == ("pending", "alpha", "bea")
    path = f"/api/v1/access-requests/{request['id']}"

    # who sees it: bea (hers) and alpha's admins; nobody else, not even her teammate or alpha's maintainer
    inbox = _call(world, "ada", "GET", "/api/v1/teams/alpha/access-requests", params={"status": "pending"})
    assert [r["id"] for r in inbox.json()] == [request["id"]]
    assert [r["id"] for r in _call(world, "ada", "GET", "/api/v1/access-requests?scope=inbox").json()] == [
        request["id"]
    ]
    assert _call(world, "bea", "GET", path).json()["id"] == request["id"]
    missing = _call(world, "cal", "GET", "/api/v1/access-requests/999999")
    for outsider in ("cal", "abe", "ben"):
        hidden = _call(world, outsider, "GET", path)
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "access_request_not_found"
        assert hidden.json()["error"].replace(str(request["id"]), "N") == missing.json()["error"].replace(
            "999999", "N"
        )
        assert _call(world, outsider, "GET", "/api/v1/access-requests").json() == []
    for outsider in ("abe", "cal", "bea"):  # alpha's inbox takes alpha's admin role
        refused = _call(world, outsider, "GET", "/api/v1/teams/alpha/access-requests")
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"

    # deciding takes alpha's admin: the requester is refused, others do not see it
    assert _call(world, "bea", "POST", f"{path}/approve").status_code == 403
    assert _call(world, "abe", "POST", f"{path}/approve").status_code == 404
    assert _call(world, "cal", "POST", f"{path}/approve").status_code == 404
    assert _predict(world, "bea", "shared-approve") in (403, 404)

    approved = _call(
        world, "ada", "POST", f"{path}/approve", json={"expires_in_s": 7 * 86400, "reason": "Q3"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["grant_expires_at"] is not None
    assert _predict(world, "bea", "shared-approve") == 200  # at once: this server reloaded its table
    assert _predict(world, "ben", "shared-approve") in (403, 404)  # a grant is for the team's predictors

    mine = _call(world, "bea", "GET", "/api/v1/access-requests", params={"scope": "mine"}).json()
    assert [(r["id"], r["status"], r["decision_reason"]) for r in mine] == [(request["id"], "approved", "Q3")]
    [grant] = _call(world, "ada", "GET", "/api/v1/grants/shared-approve").json()
    assert (grant["team"], grant["expires_at"], grant["expired"]) == (
        "beta",
        approved.json()["grant_expires_at"],
        False,
    )
    again = _ask(world, "bea", "shared-approve")
    assert (again.status_code, again.json()["code"]) == (409, "access_already_held")
    assert _call(world, "ada", "POST", f"{path}/deny", json={"reason": "late"}).json()["code"] == (
        "access_request_decided"
    )

    trail = _call(world, "root", "GET", "/api/v1/audit", params={"resource_name": str(request["id"])}).json()
    assert [(e["actor"], e["action"]) for e in trail if e["resource_type"] == "access_request"] == [
        ("bea", "access_request.create"),
        ("ada", "access_request.approve"),
    ]
    grants = _call(world, "root", "GET", "/api/v1/audit", params={"action": "grant.create"}).json()
    assert any(e["resource_name"] == "shared-approve" and e["actor"] == "ada" for e in grants)


def test_denied_duplicates_and_withdrawal(world: World) -> None:
    made = _ask(world, "bea", "shared-deny").json()
    duplicate = _ask(world, "ben", "shared-deny")  # any member may ask for the team: one at a time
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "access_request_pending"
    assert duplicate.json()["details"]["request"] == made["id"]
    path = f"/api/v1/access-requests/{made['id']}"
    no_reason = _call(world, "ada", "POST", f"{path}/deny", json={"reason": ""})
    assert (no_reason.status_code, no_reason.json()["code"]) == (400, "invalid_request")
    denied = _call(world, "ada", "POST", f"{path}/deny", json={"reason": "reads salary data"})
    assert (denied.json()["status"], denied.json()["decided_by"]) == ("denied", "ada")
    mine = _call(world, "bea", "GET", "/api/v1/access-requests", params={"scope": "mine", "status": "denied"})
    assert [(r["id"], r["decision_reason"]) for r in mine.json()] == [(made["id"], "reads salary data")]
    assert _predict(world, "bea", "shared-deny") in (403, 404)

    second = _ask(world, "bea", "shared-deny").json()  # denied: one may ask again
    other = f"/api/v1/access-requests/{second['id']}/withdraw"
    assert _call(world, "ben", "POST", other).status_code == 404  # only the requester
    assert _call(world, "ada", "POST", other).status_code == 403  # the owner sees it, may not withdraw it
    assert _call(world, "bea", "POST", other).json()["status"] == "withdrawn"
    assert _call(world, "bea", "POST", other).json()["code"] == "access_request_decided"


def test_a_private_model_answers_as_a_missing_name(world: World) -> None:
    private = _ask(world, "bea", "private-model")
    missing = _ask(world, "bea", "no-such-model")
    assert private.status_code == missing.status_code == 404
    assert private.json()["code"] == missing.json()["code"] == "model_not_found"
    assert private.json()["error"].replace("private-model", "X") == missing.json()["error"].replace(
        "no-such-model", "X"
    )
    assert private.json()["details"].keys() == missing.json()["details"].keys()
    assert private.headers.keys() == missing.headers.keys()
    own = _ask(world, "ada", "private-model", team="alpha")  # its own team's: it has access
    assert (own.status_code, own.json()["code"]) == (409, "access_already_held")
    not_member = _ask(world, "bea", "shared-deny", team="gamma")
    assert (not_member.status_code, not_member.json()["code"]) == (403, "forbidden")
    long_reason = _call(
        world,
        "bea",
        "POST",
        "/api/v1/access-requests",
        json={"target": "shared-deny", "team": "beta", "reason": "x" * 2001},
    )
    assert (long_reason.status_code, long_reason.json()["code"]) == (400, "invalid_request")


def test_a_grant_stops_counting_when_it_expires_without_a_reload(world: World) -> None:
    granted = _call(world, "ada", "PUT", "/api/v1/grants/shared-expiring/beta", json={"expires_in_s": 4})
    assert granted.status_code == 200, granted.text
    expires = granted.json()["expires_at"]
    assert _predict(world, "bea", "shared-expiring") == 200
    generation = world.security_generation()
    _wait_for(lambda: _predict(world, "bea", "shared-expiring") != 200)
    assert time.time() >= _unix(expires)
    assert world.security_generation() == generation  # nothing changed in the database
    [listed] = _call(world, "ada", "GET", "/api/v1/grants/shared-expiring").json()
    assert listed["expired"] is True


def test_the_expiry_is_read_from_the_clock_on_every_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with the server's clock moved on (deterministic): a request after the expiry is
    refused, one before is not, and the table was not reloaded in between."""
    import berth.server.auth.access_cache as access_cache

    granted = _call(world, "ada", "PUT", "/api/v1/grants/shared-clock/beta", json={"expires_in_s": 3600})
    assert _predict(world, "bea", "shared-clock") == 200
    expires = _unix(granted.json()["expires_at"])
    offset = [0.0]
    clock = SimpleNamespace(time=lambda: time.time() + offset[0], monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(access_cache, "time", clock)
    offset[0] = expires - time.time() - 60  # a minute before
    assert _predict(world, "bea", "shared-clock") == 200
    offset[0] = expires - time.time() + 1  # a second after
    assert _predict(world, "bea", "shared-clock") in (403, 404)
    assert _predict(world, "bea", "shared-approve") == 200  # the other grant (7 days) still counts
    with world.http("bea") as http:  # gRPC and REST read the same table; so does describe
        assert http.get("/v2/models/shared-clock").status_code in (403, 404)


def test_the_sdk_asks_lists_approves_and_denies(world: World) -> None:
    with (
        berth.access(url=world.url, token=world.tokens["bea"]) as bea,
        berth.access(url=world.url, token=world.tokens["ada"]) as ada,
    ):
        made = bea.request("shared-sdk", team="beta", reason="churn x sdk")
        assert [r["id"] for r in ada.list(team="alpha", status="pending")] == [made["id"]]
        with pytest.raises(BerthError) as caught:
            bea.approve(made["id"])
        assert caught.value.code is ErrorCode.FORBIDDEN
        with pytest.raises(BerthError) as caught:
            ada.approve(made["id"], expires_in="2 fortnights")
        assert caught.value.code is ErrorCode.INVALID_REQUEST
        approved = ada.approve(made["id"], expires_in="30d", reason="fine")
        assert approved["status"] == "approved"
        assert bea.get(made["id"])["grant_expires_at"] == approved["grant_expires_at"]
        assert made["id"] in [r["id"] for r in bea.list(scope="mine")]
        with pytest.raises(BerthError) as caught:
            bea.request("private-model", team="beta", reason="x")
        assert caught.value.code is ErrorCode.MODEL_NOT_FOUND
        with pytest.raises(BerthError) as caught:
            ada.deny(made["id"], reason="too late")
        assert caught.value.code is ErrorCode.ACCESS_REQUEST_DECIDED


def _unix(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
