"""The catalog on a real server with API tokens, two teams: a discoverable model shows a consumer
what it needs and nothing more; a private one is, to another team, exactly a missing name (in a
page, a total, a facet, an error); finding a model is not calling it (403 without a grant).

    team alpha: 'shared' (discoverable, a card), 'secret' (private, its description says
                "shared"), endpoint 'shared-ep' (discoverable, on shared); alice maintainer
    team beta:  'beta-own' (private); bob maintainer, carol predictor
    erin: no team; root: platform admin
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from skops.io import dump

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_in_thread

CARD = {
    "intended_use": "Score churn risk of retail customers.",
    "limitations": "Not evaluated outside retail.",
    "owners": "alpha (ana@alpha.example)",
}
TRAINING_DATA = "s3://alpha-private/train/customers-2025.parquet"


@dataclass(frozen=True)
class Teams:
    url: str
    tokens: dict[str, str]
    sha256: str
    x: list[list[float]]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Teams]:
    home = tmp_path_factory.mktemp("catalog") / "home"
    example = lr.x[:2]
    shared = berth.push(
        lr.model, name="shared", home=home, team="alpha", input_example=example, card=CARD,
        visibility="discoverable", contact="ana@alpha.example", description="Churn scorer",
        training_data=TRAINING_DATA, params={"secret_param": "db-password-hint"}, metrics={"roc_auc": 0.91},
    )  # fmt: skip
    berth.push(
        lr.model, name="secret", home=home, team="alpha", input_example=example, description="not shared"
    )
    berth.push(lr.model, name="beta-own", home=home, team="beta", input_example=example)
    eps = berth.endpoints(home=home)
    try:
        eps.create("shared-ep", {"targets": [{"target": "shared", "weight": 100}]}, team="alpha")
    finally:
        eps.close()
    with berth.catalog(home=home) as catalog:
        catalog.set_visibility("shared-ep", "discoverable", endpoint=True)
    security = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        security.set_member("alpha", "alice", Role.MAINTAINER)
        security.set_member("beta", "bob", Role.MAINTAINER)
        security.set_member("beta", "carol", Role.PREDICTOR)
        names = ("root", "alice", "bob", "carol", "erin")
        tokens = {n: security.create_token(n, admin=n == "root").secret for n in names}
    finally:
        security.close()
    settings = Settings(home=home, poll_interval_s=0.1, auth="tokens")
    with server_in_thread(settings) as url:
        yield Teams(url, tokens, shared.artifact.sha256, example.tolist())


@pytest.fixture
def http(teams: Teams) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=teams.url, timeout=30) as client:
        yield client


def _search(http: httpx.Client, teams: Teams, who: str, **params: Any) -> dict[str, Any]:
    response = http.get("/api/v1/catalog", params=params, headers=teams.auth(who))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _names(page: dict[str, Any]) -> list[str]:
    return [e["name"] for e in page["entries"]]


def test_another_team_finds_the_discoverable_entries_and_never_the_private_one(
    http: httpx.Client, teams: Teams
) -> None:
    for who in ("bob", "erin"):
        page = _search(http, teams, who)
        own = ["beta-own"] if who == "bob" else []
        assert _names(page) == sorted(["shared", "shared-ep", *own])
        assert page["total"] == 2 + len(own)
        assert page["facets"]["team"].get("alpha") == 2  # secret is counted nowhere
        assert page["facets"]["visibility"].get("private", 0) == len(own)
        assert page["facets"]["kind"] == {"model": 1 + len(own), "endpoint": 1}
    # "shared" is in secret's description: the search must not count it for bob
    assert _names(_search(http, teams, "bob", q="shared")) == ["shared", "shared-ep"]
    assert _search(http, teams, "bob", q="quietly")["total"] == 0
    assert _search(http, teams, "bob", team="alpha", visibility="private")["total"] == 0
    assert "secret" in _names(_search(http, teams, "alice", q="shared"))
    assert "secret" in _names(_search(http, teams, "root"))


def test_a_discoverable_entry_shows_only_what_a_consumer_needs(http: httpx.Client, teams: Teams) -> None:
    response = http.get("/api/v1/catalog/shared", headers=teams.auth("bob"))
    assert response.status_code == 200
    entry = response.json()

    assert (entry["team"], entry["contact"], entry["visibility"]) == (
        "alpha",
        "ana@alpha.example",
        "discoverable",
    )
    assert entry["card"]["sections"] == CARD
    assert entry["card"]["filled"] == 3
    assert "evaluation" in entry["card"]["missing"]
    assert entry["metrics"] == {"roc_auc": 0.91}
    assert entry["signature"]["inputs"][0]["shape"] == [-1, 20]
    assert entry["versions"][0]["version"] == 1
    assert entry["access"] == {"may_read": False, "may_predict": False}
    text = json.dumps(entry)
    for private in (teams.sha256, TRAINING_DATA, "secret_param", "artifact", "pushed_by", "source", "params"):
        assert private not in text, private
    # the example is made from the signature: none of the owner's rows
    example = entry["example_request"]["inputs"][0]
    assert example["shape"] == [1, 20]
    assert set(example["data"]) == {0.0}
    assert not any(round(v, 4) in {round(x, 4) for x in example["data"]} for v in teams.x[0] if v)

    own = http.get("/api/v1/catalog/shared", headers=teams.auth("alice")).json()
    assert own["access"] == {"may_read": True, "may_predict": True}
    assert own["example_request"]["inputs"][0]["data"][0] == pytest.approx(teams.x[0][0], rel=1e-5)
    endpoint = http.get("/api/v1/catalog/shared-ep", headers=teams.auth("erin")).json()
    assert endpoint["targets"] == [{"target": "shared", "weight": 100.0}]
    assert endpoint["access"] == {"may_read": False, "may_predict": False}


def test_a_private_entry_answers_exactly_like_a_missing_one(http: httpx.Client, teams: Teams) -> None:
    for who in ("bob", "erin"):
        hidden = http.get("/api/v1/catalog/secret", headers=teams.auth(who))
        missing = http.get("/api/v1/catalog/secrfx", headers=teams.auth(who))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["code"] == missing.json()["code"] == "model_not_found"
        assert hidden.json()["error"].replace("secret", "X") == missing.json()["error"].replace("secrfx", "X")
        patched = http.patch(
            "/api/v1/models/secret", json={"visibility": "discoverable"}, headers=teams.auth(who)
        )
        assert patched.status_code == 404


def test_finding_a_model_is_not_calling_or_reading_it(http: httpx.Client, teams: Teams) -> None:
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": teams.x[0]}]}
    h = teams.auth("carol")  # a predictor of beta, without a grant on alpha's model
    for response in (
        http.post("/v2/models/shared/infer", json=body, headers=h),
        http.get("/v2/models/shared", headers=h),
        http.get("/api/v1/models/shared", headers=h),
        http.get("/api/v1/models/shared/versions/1/artifact", headers=h),
        http.patch("/api/v1/models/shared", json={"visibility": "private"}, headers=teams.auth("bob")),
        http.patch("/api/v1/endpoints/shared-ep", json={"visibility": "private"}, headers=teams.auth("bob")),
    ):
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), response.url
    secret = http.post("/v2/models/secret/infer", json=body, headers=h)
    assert (secret.status_code, secret.json()["code"]) == (404, "model_not_found")
    assert http.post("/v2/models/shared/infer", json=body, headers=teams.auth("alice")).status_code == 200


def test_a_maintainer_changes_visibility_and_every_caller_sees_it_at_once(
    http: httpx.Client, teams: Teams
) -> None:
    alice = teams.auth("alice")
    try:
        changed = http.patch(
            "/api/v1/models/secret", json={"visibility": "discoverable", "contact": "x@a"}, headers=alice
        )
        assert changed.status_code == 200
        assert changed.json()["visibility"] == "discoverable"
        assert http.get("/api/v1/catalog/secret", headers=teams.auth("bob")).status_code == 200
        assert "secret" in _names(_search(http, teams, "bob"))
        infer = http.get("/v2/models/secret", headers=teams.auth("carol"))
        assert (infer.status_code, infer.json()["code"]) == (403, "forbidden")
        hidden = http.patch("/api/v1/endpoints/shared-ep", json={"visibility": "private"}, headers=alice)
        assert hidden.json() == {"name": "shared-ep", "visibility": "private"}
        assert "shared-ep" not in _names(_search(http, teams, "bob"))
    finally:
        http.patch("/api/v1/models/secret", json={"visibility": "private"}, headers=alice)
        http.patch("/api/v1/endpoints/shared-ep", json={"visibility": "discoverable"}, headers=alice)
    assert http.get("/api/v1/catalog/secret", headers=teams.auth("bob")).status_code == 404
    events = http.get(
        "/api/v1/audit",
        params={"resource_name": "secret", "action": "model.update"},
        headers=teams.auth("root"),
    ).json()
    assert [e["actor"] for e in events][-2:] == ["alice", "alice"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"visibility": "public"}, "invalid_request"),
        ({"card": {"purpose": "x"}}, "invalid_card"),
    ],
)
def test_bad_visibility_and_bad_cards_are_4xx_with_stable_codes(
    http: httpx.Client, teams: Teams, tmp_path: Path, lr: Trained, body: dict[str, Any], code: str
) -> None:
    model = tmp_path / "m.skops"
    dump(lr.model, model)
    response = http.post(
        "/api/v1/models/shared/versions",
        files={"artifact": ("m.skops", model.read_bytes(), "application/octet-stream")},
        data={"metadata": json.dumps({"team": "alpha", **body})},
        headers=teams.auth("alice"),
    )
    assert (response.status_code, response.json()["code"]) == (400, code)
    bad_query = http.get("/api/v1/catalog", params={"sort": "best"}, headers=teams.auth("bob"))
    assert bad_query.status_code in (400, 422)
    assert bad_query.json()["code"] == "invalid_request"
    bad_cursor = http.get("/api/v1/catalog", params={"cursor": "abc"}, headers=teams.auth("bob"))
    assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (400, "invalid_cursor")


def test_the_catalog_needs_credentials(http: httpx.Client) -> None:
    for path in ("/api/v1/catalog", "/api/v1/catalog/shared"):
        response = http.get(path)
        assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")
