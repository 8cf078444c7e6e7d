"""The team boundary as a property: random sequences of operations by principals of three teams never
let a principal call or read anything its team neither owns nor was granted, and never tell it
whether such a thing exists.

A real server with authentication on; three teams (alpha, beta, gamma), each with an admin, a
maintainer, a predictor and a reader, and one model. Hypothesis drives the state machine: endpoints
in front of any team's model (or a missing one) are created, deleted and re-created under the same
names by other teams; grants are given and withdrawn; predictions are made with ids the test
remembers; records, endpoints, alert rules, triggers, exports and tokens are read across teams. A
model of what each team may reach says what every answer must be. Whatever a principal may not
reach must answer exactly as a name that never existed does (status, code and message, with the
name put in place).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_in_thread

TEAMS = ("alpha", "beta", "gamma")
ROLES = {"admin": Role.ADMIN, "maint": Role.MAINTAINER, "pred": Role.PREDICTOR, "reader": Role.READER}
NEVER = "ep-never"
"""A name nothing ever takes: what a hidden thing answers must equal what this one answers."""
MISSING_MODEL = "no-such-model"


def principal(team: str, role: str) -> str:
    return f"{team}-{role}"


def model_of(team: str) -> str:
    return f"{team}-model"


@dataclass(frozen=True)
class Platform:
    url: str
    tokens: dict[str, str]
    x: list[list[float]]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Platform]:
    home: Path = tmp_path_factory.mktemp("tenants") / "home"
    for team in TEAMS:
        berth.push(lr.model, name=model_of(team), home=home, input_example=lr.x[:3], team=team)
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        for team, (role_name, role) in itertools.product(TEAMS, ROLES.items()):
            store.set_member(team, principal(team, role_name), role)
        names = [principal(t, r) for t, r in itertools.product(TEAMS, ROLES)]
        tokens = {name: store.create_token(name).secret for name in names}
        tokens["root"] = store.create_token("root", admin=True).secret
    finally:
        store.close()
    settings_ = Settings(home=home, poll_interval_s=0.1, auth="tokens")
    with server_in_thread(settings_) as url:
        yield Platform(url, tokens, lr.x[:1].tolist())


def shape(response: httpx.Response, name: str) -> tuple[int, str, str]:
    """What an answer tells a caller, with the name it was about put in place."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        return response.status_code, "", ""
    message = str(body.get("error", "")).replace(name, "<name>")
    return response.status_code, str(body.get("code", "")), message


@dataclass
class Tracked:
    team: str
    incarnation: int


@dataclass
class World:
    """What the test knows to be true: who owns which endpoint now, grants, predictions made."""

    endpoints: dict[str, Tracked] = field(default_factory=dict)
    grants: set[tuple[str, int, str]] = field(default_factory=set)
    predictions: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    """prediction id -> (endpoint, incarnation, owning team then)."""
    incarnations: itertools.count[int] = field(default_factory=itertools.count)

    def owner(self, name: str) -> str | None:
        tracked = self.endpoints.get(name)
        return tracked.team if tracked else None

    def may_predict(self, team: str, name: str) -> bool:
        tracked = self.endpoints.get(name)
        if tracked is None:
            return False
        return tracked.team == team or (name, tracked.incarnation, team) in self.grants


teams = st.sampled_from(TEAMS)
endpoint_names = st.sampled_from(("ep-0", "ep-1", "ep-2"))
"""Three names each example takes, deletes and re-takes (suffixed per example: examples share a server)."""
models = st.sampled_from([*(model_of(t) for t in TEAMS), MISSING_MODEL])


class TenantMachine(RuleBasedStateMachine):
    platform: Platform

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.platform.url, timeout=60)
        self.world = World()
        self.rules: dict[str, tuple[str, int]] = {}
        """alert rule -> (endpoint, incarnation) it watches: readable by the team owning that one."""
        self.suffix = uuid.uuid4().hex[:8]

    def named(self, name: str) -> str:
        return f"{name}-{self.suffix}"

    def teardown(self) -> None:
        self.http.close()

    def auth(self, team: str, role: str) -> dict[str, str]:
        return self.platform.auth(principal(team, role))

    def same_as_never(
        self, response: httpx.Response, name: str, again: httpx.Response, never: str = NEVER
    ) -> None:
        assert response.status_code < 500, response.text
        assert shape(response, name) == shape(again, never), (response.text, again.text)

    # -- endpoints --------------------------------------------------------------------------------
    @rule(team=teams, name=endpoint_names, model=models)
    def create_endpoint(self, team: str, name: str, model: str) -> None:
        name = self.named(name)

        def create(endpoint: str, target: str) -> httpx.Response:
            body = {"name": endpoint, "team": team, "targets": [{"target": target}]}
            return self.http.post("/api/v1/endpoints", headers=self.auth(team, "maint"), json=body)

        response = create(name, model)
        assert response.status_code < 500, response.text
        if model != model_of(team):
            # another team's model or a missing one: the same answer, whatever the name's state
            assert response.status_code != 201, response.text
            if name not in self.world.endpoints:
                missing = create(name, MISSING_MODEL)
                assert shape(response, model) == shape(missing, MISSING_MODEL), (response.text, missing.text)
            return
        if name in self.world.endpoints:
            assert response.status_code != 201, response.text
            return
        assert response.status_code == 201, response.text
        self.world.endpoints[name] = Tracked(team, next(self.world.incarnations))

    @rule(team=teams, name=endpoint_names)
    def delete_endpoint(self, team: str, name: str) -> None:
        name = self.named(name)
        response = self.http.delete(f"/api/v1/endpoints/{name}", headers=self.auth(team, "maint"))
        if self.world.owner(name) == team:
            assert response.status_code in (200, 204), response.text
            tracked = self.world.endpoints.pop(name)
            self.world.grants = {g for g in self.world.grants if g[:2] != (name, tracked.incarnation)}
            return
        never = self.http.delete(f"/api/v1/endpoints/{NEVER}", headers=self.auth(team, "maint"))
        self.same_as_never(response, name, never)

    @rule(team=teams, grantee=teams, name=endpoint_names)
    def grant(self, team: str, grantee: str, name: str) -> None:
        name = self.named(name)
        response = self.http.put(f"/api/v1/grants/{name}/{grantee}", headers=self.auth(team, "admin"))
        tracked = self.world.endpoints.get(name)
        if tracked is not None and tracked.team == team:
            assert response.status_code == 200, response.text
            self.world.grants.add((name, tracked.incarnation, grantee))
            return
        never = self.http.put(f"/api/v1/grants/{NEVER}/{grantee}", headers=self.auth(team, "admin"))
        self.same_as_never(response, name, never)

    @rule(team=teams, grantee=teams, name=endpoint_names)
    def withdraw_grant(self, team: str, grantee: str, name: str) -> None:
        name = self.named(name)
        response = self.http.delete(f"/api/v1/grants/{name}/{grantee}", headers=self.auth(team, "admin"))
        tracked = self.world.endpoints.get(name)
        if tracked is not None and tracked.team == team:
            held = (name, tracked.incarnation, grantee) in self.world.grants
            assert response.status_code == (204 if held else 400), response.text
            self.world.grants.discard((name, tracked.incarnation, grantee))
            return
        never = self.http.delete(f"/api/v1/grants/{NEVER}/{grantee}", headers=self.auth(team, "admin"))
        self.same_as_never(response, name, never)

    # -- calls and reads --------------------------------------------------------------------------
    @rule(team=teams, name=endpoint_names)
    def predict(self, team: str, name: str) -> None:
        name = self.named(name)
        prediction_id = uuid.uuid4().hex
        body = {
            "id": prediction_id,
            "inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": self.platform.x[0]}],
        }
        headers = self.auth(team, "pred")
        response = self.http.post(f"/v2/models/{name}/infer", headers=headers, json=body)
        if self.world.may_predict(team, name):
            assert response.status_code == 200, response.text
            tracked = self.world.endpoints[name]
            self.world.predictions[prediction_id] = (name, tracked.incarnation, tracked.team)
            return
        never = self.http.post(f"/v2/models/{NEVER}/infer", headers=headers, json=body)
        self.same_as_never(response, name, never)
        for path in (f"/v2/models/{name}", f"/v2/models/{name}/ready"):
            hidden = self.http.get(path, headers=headers)
            self.same_as_never(hidden, name, self.http.get(path.replace(name, NEVER), headers=headers))

    @rule(team=teams, name=endpoint_names)
    def read_endpoint(self, team: str, name: str) -> None:
        name = self.named(name)
        headers = self.auth(team, "reader")
        response = self.http.get(f"/api/v1/endpoints/{name}", headers=headers)
        if self.world.owner(name) == team:
            assert response.status_code == 200, response.text
        else:
            never = self.http.get(f"/api/v1/endpoints/{NEVER}", headers=headers)
            self.same_as_never(response, name, never)
        listed = self.http.get("/api/v1/endpoints", headers=headers)
        assert listed.status_code == 200, listed.text
        for endpoint in listed.json():
            owner = self.world.owner(endpoint["name"])
            assert owner in (None, team), (team, endpoint)

    @rule(team=teams, name=endpoint_names)
    def read_records(self, team: str, name: str) -> None:
        name = self.named(name)
        headers = self.auth(team, "reader")
        response = self.http.get("/api/v1/records", params={"endpoint": name, "limit": 1000}, headers=headers)
        if self.world.owner(name) != team:
            never = self.http.get("/api/v1/records", params={"endpoint": NEVER}, headers=headers)
            self.same_as_never(response, name, never)
            return
        assert response.status_code == 200, response.text
        for record in response.json()["records"]:
            made = self.world.predictions.get(record["id"])
            if made is not None:  # made through an incarnation this team owned, never another's
                assert made[2] == team, (team, made)
                assert made[1] == self.world.endpoints[name].incarnation, (team, made)

    # -- alert rules and triggers -------------------------------------------------------------------
    @rule(team=teams, name=endpoint_names)
    def create_rule(self, team: str, name: str) -> None:
        name = self.named(name)
        rule_name = f"rule-{uuid.uuid4().hex[:8]}"

        def create(target: str) -> httpx.Response:
            spec = {"name": rule_name, "target": target, "metric": "error_rate", "op": ">", "threshold": 0.5}
            return self.http.post("/api/v1/alerts/rules", headers=self.auth(team, "maint"), json=spec)

        response = create(name)
        if self.world.owner(name) == team:
            assert response.status_code == 201, response.text
            self.rules[rule_name] = (name, self.world.endpoints[name].incarnation)
            return
        self.same_as_never(response, name, create(NEVER))

    @precondition(lambda self: bool(self.rules))
    @rule(team=teams, data=st.data())
    def read_rule(self, team: str, data: st.DataObject) -> None:
        rule_name = data.draw(st.sampled_from(sorted(self.rules)))
        headers = self.auth(team, "reader")
        response = self.http.get(f"/api/v1/alerts/rules/{rule_name}", headers=headers)
        endpoint, incarnation = self.rules[rule_name]
        tracked = self.world.endpoints.get(endpoint)
        if tracked is not None and tracked.incarnation == incarnation and tracked.team == team:
            assert response.status_code == 200, response.text
            return
        # another team's rule, or one deleted with its endpoint: as if it never was
        never = self.http.get("/api/v1/alerts/rules/rule-never", headers=headers)
        self.same_as_never(response, rule_name, never, "rule-never")

    # -- what no principal of a team may ever see --------------------------------------------------
    @invariant()
    def catalogs_hold_only_what_a_team_may_read(self) -> None:
        for team in TEAMS:
            listed = self.http.get("/api/v1/models", headers=self.auth(team, "reader"))
            assert listed.status_code == 200, listed.text
            for model in (
                listed.json().get("models", listed.json()) if isinstance(listed.json(), dict) else []
            ):
                assert model["team"] == team, (team, model)


@pytest.mark.slow
def test_no_principal_reaches_across_the_team_boundary(platform: Platform) -> None:
    TenantMachine.platform = platform
    machine = TenantMachine.TestCase
    machine.settings = settings(
        max_examples=10,
        stateful_step_count=12,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()
