"""The team boundary as a property: random sequences of operations by principals of three teams never
let a principal call or read anything its team neither owns nor was granted, and never tell it
whether such a thing exists.

A real server with authentication on; three teams (alpha, beta, gamma), each with an admin, a
maintainer, a predictor and a reader, and one model. Hypothesis drives the state machine: endpoints
in front of any team's model (or a missing one) are created, deleted and re-created under the same
names by other teams, with shadows, entity-table lookups and custom steps that reference their own
or other teams' models and tables; grants are given and withdrawn; predictions are made with ids the test
remembers; records, endpoints, alert rules, triggers, exports and tokens are read across teams. A
model of what each team may reach says what every answer must be. Whatever a principal may not
reach must answer exactly as a name that never existed does (status, code and message, with the
name put in place).
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    multiple,
    precondition,
    rule,
)

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
MISSING_SECOND = "no-such-second"
"""A missing shadow or step model, apart from a missing target (one model may not be both)."""


def principal(team: str, role: str) -> str:
    return f"{team}-{role}"


def model_of(team: str) -> str:
    return f"{team}-model"


def second_model_of(team: str) -> str:
    """What a team's endpoints shadow, or run as a custom step (a shadow is another model)."""
    return f"{team}-second"


def table_of(team: str) -> str:
    return f"{team}-customers"


MISSING_TABLE = "no-such-table"


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
        for model in (model_of(team), second_model_of(team)):
            berth.push(lr.model, name=model, home=home, input_example=lr.x[:3], team=team)
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
        platform = Platform(url, tokens, lr.x[:1].tolist())
        for team in TEAMS:  # each team owns an entity table its endpoints may look up
            rows = {"entities": {"c1": {"age": 41}}, "team": team}
            headers = platform.auth(principal(team, "maint"))
            made = httpx.put(f"{url}/api/v1/entities/{table_of(team)}", headers=headers, json=rows)
            assert made.status_code == 200, made.text
        yield platform


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
    looks_up: bool = False
    """Its pipeline looks a key up that the test's requests lack: a call fails in the step (422)."""


@dataclass
class World:
    """What the test knows to be true: who owns which endpoint now, grants, predictions made."""

    endpoints: dict[str, Tracked] = field(default_factory=dict)
    grants: set[tuple[str, int, str]] = field(default_factory=set)
    predictions: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    """prediction id -> (endpoint, incarnation, owning team then)."""
    incarnations: itertools.count[int] = field(default_factory=itertools.count)
    held_before: set[str] = field(default_factory=set)
    """Names some endpoint has held in this example (taking one again is a re-creation)."""

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
model_choices = st.sampled_from(("own", "own", "own", "foreign", "missing"))
"""What a new endpoint is put in front of: the team's own model mostly, else another's or none."""
extras = st.sampled_from(("lookup", "shadow", "custom step", "none"))
"""What else a new endpoint references: a shadow model, an entity table looked up, a custom step."""
extra_owners = st.sampled_from(("foreign", "own", "missing"))
"""Whose that other reference is (a strategy of its own: hypothesis often repeats a strategy's value)."""


class TenantMachine(RuleBasedStateMachine):
    platform: Platform
    created = Bundle("created")
    """Names some endpoint took in this example: later steps mostly act on those."""
    some_name = st.one_of(created, endpoint_names)
    seen: Counter[str] = Counter()
    """What the examples exercised (across examples): the test checks the runs were not vacuous."""

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.platform.url, timeout=30)
        self.world = World()
        self.alert_rules: dict[str, tuple[str, int]] = {}
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
        self.seen["hidden"] += 1

    def hidden_from(
        self, team: str, role: str, endpoint: str, response: httpx.Response, name: str, again: httpx.Response
    ) -> None:
        """What `team`'s `role` may not do on `endpoint`: a grantee's predictors, maintainers and
        admins know the endpoint (403 forbidden, the role they lack); its readers, whom a grant
        does not reach, and anyone else get what a name that never existed gets."""
        tracked = self.world.endpoints.get(endpoint)
        grantee = tracked is not None and (endpoint, tracked.incarnation, team) in self.world.grants
        if grantee and role != "reader":
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "forbidden", response.text
            self.seen["forbidden to a grantee"] += 1
            return
        self.same_as_never(response, name, again)

    @initialize(target=created)
    def each_team_has_an_endpoint(self) -> Any:
        """Every example starts with one endpoint per team, in front of the team's own model."""
        names = []
        for team, name in zip(TEAMS, ("ep-0", "ep-1", "ep-2"), strict=True):
            body = {"name": self.named(name), "team": team, "targets": [{"target": model_of(team)}]}
            created = self.http.post("/api/v1/endpoints", headers=self.auth(team, "maint"), json=body)
            assert created.status_code == 201, created.text
            self.world.endpoints[self.named(name)] = Tracked(team, next(self.world.incarnations))
            self.world.held_before.add(self.named(name))
            self.seen["created"] += 1
            names.append(name)
        return multiple(*names)

    # -- endpoints --------------------------------------------------------------------------------
    @rule(
        target=created,
        team=teams,
        name=endpoint_names,
        other=teams,
        choice=model_choices,
        extra=extras,
        extra_choice=extra_owners,
        retake=st.booleans(),
    )
    def create_endpoint(
        self, team: str, name: str, other: str, choice: str, extra: str, extra_choice: str, retake: bool
    ) -> Any:
        """`team` creates an endpoint; with `retake`, whoever holds the name deletes it first."""
        short, name = name, self.named(name)
        owner = self.world.owner(name)
        if retake and owner is not None:
            self.delete_endpoint(owner, short)
        other = other if other != team else TEAMS[(TEAMS.index(team) + 1) % len(TEAMS)]
        pick = {"own": team, "foreign": other}
        model = model_of(pick[choice]) if choice in pick else MISSING_MODEL
        shadow = second_model_of(pick[extra_choice]) if extra_choice in pick else MISSING_SECOND
        table = table_of(pick[extra_choice]) if extra_choice in pick else MISSING_TABLE

        def create(endpoint: str, target: str, shadow: str, table: str) -> httpx.Response:
            body: dict[str, Any] = {"name": endpoint, "team": team, "targets": [{"target": target}]}
            if extra == "shadow":
                body["shadows"] = [{"target": shadow, "fraction": 1.0}]
            elif extra == "lookup":
                step = {"type": "lookup", "table": table, "key": "id", "features": ["age"]}
                body["pipeline"] = {"pre": [step]}
            elif extra == "custom step":
                body["pipeline"] = {"pre": [{"type": "python", "ref": f"{shadow}:1"}]}
            return self.http.post("/api/v1/endpoints", headers=self.auth(team, "maint"), json=body)

        response = create(name, model, shadow, table)
        assert response.status_code < 500, response.text
        if model != model_of(team):
            referenced, absent, missing = model, MISSING_MODEL, (MISSING_MODEL, shadow, table)
            self.seen["hidden target"] += 1
        elif extra != "none" and extra_choice != "own":
            lookup = extra == "lookup"
            referenced, absent = (table, MISSING_TABLE) if lookup else (shadow, MISSING_SECOND)
            missing = (model, MISSING_SECOND, MISSING_TABLE)
            self.seen[f"hidden {extra}"] += 1
        else:
            referenced = ""
        if referenced:
            # another team's model or table, or a missing one: refused, with the same answer as a
            # missing one (compared under a name nothing holds, so nothing else tells them apart)
            assert response.status_code != 201, response.text
            probe = f"{name}-probe"
            hidden, never = create(probe, model, shadow, table), create(probe, *missing)
            assert hidden.status_code == 400, hidden.text
            assert shape(hidden, referenced) == shape(never, absent), (hidden.text, never.text)
            return multiple()
        if extra == "custom step":  # a custom step runs a python model: a scikit-learn one is refused
            assert response.status_code == 400, response.text
            return multiple()
        if name in self.world.endpoints:
            assert response.status_code != 201, response.text
            return multiple()
        assert response.status_code == 201, response.text
        self.seen["retaken" if name in self.world.held_before else "created"] += 1
        self.seen[f"created with {extra}"] += 1
        self.world.held_before.add(name)
        self.world.endpoints[name] = Tracked(team, next(self.world.incarnations), looks_up=extra == "lookup")
        return short

    @rule(team=teams, name=some_name)
    def delete_endpoint(self, team: str, name: str) -> None:
        name = self.named(name)
        response = self.http.delete(f"/api/v1/endpoints/{name}", headers=self.auth(team, "maint"))
        if self.world.owner(name) == team:
            assert response.status_code in (200, 204), response.text
            tracked = self.world.endpoints.pop(name)
            self.world.grants = {g for g in self.world.grants if g[:2] != (name, tracked.incarnation)}
            return
        never = self.http.delete(f"/api/v1/endpoints/{NEVER}", headers=self.auth(team, "maint"))
        self.hidden_from(team, "maint", name, response, name, never)

    @rule(team=teams, grantee=teams, name=some_name)
    def grant(self, team: str, grantee: str, name: str) -> None:
        name = self.named(name)
        response = self.http.put(f"/api/v1/grants/{name}/{grantee}", headers=self.auth(team, "admin"))
        tracked = self.world.endpoints.get(name)
        if tracked is not None and tracked.team == team:
            assert response.status_code == 200, response.text
            self.world.grants.add((name, tracked.incarnation, grantee))
            return
        never = self.http.put(f"/api/v1/grants/{NEVER}/{grantee}", headers=self.auth(team, "admin"))
        self.hidden_from(team, "admin", name, response, name, never)

    @rule(team=teams, grantee=teams, name=some_name)
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
        self.hidden_from(team, "admin", name, response, name, never)

    @rule(grantee=teams, name=some_name)
    def grant_then_call(self, grantee: str, name: str) -> None:
        """The owner grants an endpoint to a team, whose predictor then calls it."""
        full = self.named(name)
        owner = self.world.owner(full)
        if owner is None or owner == grantee:
            return
        self.grant(owner, grantee, name)
        self.predict(grantee, name)

    # -- calls and reads --------------------------------------------------------------------------
    @rule(team=teams, name=some_name)
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
            tracked = self.world.endpoints[name]
            if tracked.looks_up:  # let through, then failed in the step: no prediction to track
                assert (response.status_code, response.json()["code"]) == (422, "pipeline_step_failed")
                return
            assert response.status_code == 200, response.text
            self.world.predictions[prediction_id] = (name, tracked.incarnation, tracked.team)
            self.seen["granted call" if tracked.team != team else "own call"] += 1
            return
        never = self.http.post(f"/v2/models/{NEVER}/infer", headers=headers, json=body)
        self.same_as_never(response, name, never)
        for path in (f"/v2/models/{name}", f"/v2/models/{name}/ready"):
            hidden = self.http.get(path, headers=headers)
            self.same_as_never(hidden, name, self.http.get(path.replace(name, NEVER), headers=headers))

    @rule(team=teams, name=some_name)
    def read_endpoint(self, team: str, name: str) -> None:
        name = self.named(name)
        headers = self.auth(team, "reader")
        response = self.http.get(f"/api/v1/endpoints/{name}", headers=headers)
        if self.world.owner(name) == team:
            assert response.status_code == 200, response.text
        else:
            never = self.http.get(f"/api/v1/endpoints/{NEVER}", headers=headers)
            self.hidden_from(team, "reader", name, response, name, never)
        listed = self.http.get("/api/v1/endpoints", headers=headers)
        assert listed.status_code == 200, listed.text
        for endpoint in listed.json():
            owner = self.world.owner(endpoint["name"])
            assert owner in (None, team), (team, endpoint)

    @rule(team=teams, name=some_name)
    def read_records(self, team: str, name: str) -> None:
        name = self.named(name)
        headers = self.auth(team, "reader")
        response = self.http.get("/api/v1/records", params={"endpoint": name, "limit": 1000}, headers=headers)
        if self.world.owner(name) != team:
            never = self.http.get("/api/v1/records", params={"endpoint": NEVER}, headers=headers)
            self.hidden_from(team, "reader", name, response, name, never)
            return
        assert response.status_code == 200, response.text
        for record in response.json()["records"]:
            made = self.world.predictions.get(record["prediction_id"])
            if made is not None:  # made through an incarnation this team owned, never another's
                assert made[2] == team, (team, made)
                assert made[1] == self.world.endpoints[name].incarnation, (team, made)

    # -- alert rules and triggers -------------------------------------------------------------------
    @rule(team=teams, name=some_name)
    def create_rule(self, team: str, name: str) -> None:
        name = self.named(name)
        rule_name = f"rule-{uuid.uuid4().hex[:8]}"

        def create(target: str) -> httpx.Response:
            spec = {"name": rule_name, "target": target, "metric": "error_rate", "op": ">", "threshold": 0.5}
            return self.http.post("/api/v1/alerts/rules", headers=self.auth(team, "maint"), json=spec)

        response = create(name)
        if self.world.owner(name) == team:
            assert response.status_code == 201, response.text
            self.alert_rules[rule_name] = (name, self.world.endpoints[name].incarnation)
            return
        self.hidden_from(team, "maint", name, response, name, create(NEVER))

    @precondition(lambda self: bool(self.alert_rules))
    @rule(team=teams, data=st.data())
    def read_rule(self, team: str, data: st.DataObject) -> None:
        rule_name = data.draw(st.sampled_from(sorted(self.alert_rules)))
        headers = self.auth(team, "reader")
        response = self.http.get(f"/api/v1/alerts/rules/{rule_name}", headers=headers)
        endpoint, incarnation = self.alert_rules[rule_name]
        tracked = self.world.endpoints.get(endpoint)
        if tracked is not None and tracked.incarnation == incarnation and tracked.team == team:
            assert response.status_code == 200, response.text
            return
        # another team's rule (a grant is to call the endpoint, not to read its owner's rules), or
        # one deleted with its endpoint: as if it never was
        never = self.http.get("/api/v1/alerts/rules/rule-never", headers=headers)
        self.same_as_never(response, rule_name, never, "rule-never")

    @rule(team=teams, role=st.sampled_from(tuple(ROLES)), data=st.data())
    def touch_trigger(self, team: str, role: str, data: st.DataObject) -> None:
        """Job triggers run with the worker's rights: no team principal makes, lists or reads one,
        whichever rule it names (its team's, another's, none)."""
        rule_name = data.draw(st.sampled_from([*sorted(self.alert_rules), "rule-never"]))
        headers = self.auth(team, role)
        job = {"kind": "batch-score", "params": {"model": model_of(team), "input": "in.csv"}}
        trigger = {"name": f"t-{self.suffix}", **job, "alert_rule": rule_name}
        for response in (
            self.http.post("/api/v1/jobs/triggers", headers=headers, json=trigger),
            self.http.get("/api/v1/jobs/triggers", headers=headers),
            self.http.get(f"/api/v1/jobs/triggers/t-{self.suffix}", headers=headers),
        ):
            assert (response.status_code, response.json()["code"]) == (403, "forbidden"), response.text
        self.seen["trigger refused"] += 1

    # -- exports and tokens: owned by whoever made them -----------------------------------------------
    @rule(team=teams, other=teams, name=some_name)
    def export_records(self, team: str, other: str, name: str) -> None:
        name = self.named(name)
        headers = self.auth(team, "reader")

        def create(endpoint: str) -> httpx.Response:
            return self.http.post("/api/v1/records/exports", headers=headers, json={"endpoint": endpoint})

        response = create(name)
        if self.world.owner(name) != team:
            self.hidden_from(team, "reader", name, response, name, create(NEVER))
            return
        assert response.status_code in (202, 429), response.text  # 429: this reader's quota
        if response.status_code == 429 or other == team:
            return
        export_id = response.json()["id"]
        stranger = self.auth(other, "reader")
        for suffix in ("", "/file"):
            seen = self.http.get(f"/api/v1/records/exports/{export_id}{suffix}", headers=stranger)
            never = self.http.get(f"/api/v1/records/exports/999999999{suffix}", headers=stranger)
            self.same_as_never(seen, str(export_id), never, "999999999")
        deleted = self.http.delete(f"/api/v1/records/exports/{export_id}", headers=stranger)
        never = self.http.delete("/api/v1/records/exports/999999999", headers=stranger)
        self.same_as_never(deleted, str(export_id), never, "999999999")

    @rule(team=teams, other=teams)
    def mint_token(self, team: str, other: str) -> None:
        minted = self.http.post("/api/v1/tokens", headers=self.auth(team, "pred"), json={"expires_days": 1})
        assert minted.status_code == 201, minted.text
        token_id = minted.json()["id"]
        if other == team:
            return
        stranger = self.auth(other, "admin")  # a team admin is no platform admin
        listed = self.http.get("/api/v1/tokens", headers=stranger)
        assert listed.status_code == 200, listed.text
        assert token_id not in [t["id"] for t in listed.json()]
        revoked = self.http.delete(f"/api/v1/tokens/{token_id}", headers=stranger)
        never = self.http.delete("/api/v1/tokens/999999999", headers=stranger)
        self.same_as_never(revoked, str(token_id), never, "999999999")

    # -- what no principal of a team may ever see --------------------------------------------------
    @rule(team=teams)
    def read_catalog(self, team: str) -> None:
        listed = self.http.get("/api/v1/models", headers=self.auth(team, "reader"))
        assert listed.status_code == 200, listed.text
        models = listed.json()
        assert model_of(team) in [m["name"] for m in models], (team, models)
        for model in models:
            assert model["team"] == team, (team, model)
        self.seen["catalog"] += 1


@pytest.mark.slow
def test_no_principal_reaches_across_the_team_boundary(platform: Platform) -> None:
    TenantMachine.platform = platform
    machine = TenantMachine.TestCase
    machine.settings = settings(
        max_examples=80,
        stateful_step_count=30,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    TenantMachine.seen.clear()
    machine().runTest()
    seen = TenantMachine.seen
    for what in (
        "created",
        "retaken",
        "own call",
        "granted call",
        "hidden",
        "forbidden to a grantee",
        "catalog",
        "hidden shadow",
        "hidden lookup",
        "hidden custom step",
        "hidden target",
        "created with shadow",
        "created with lookup",
        "trigger refused",
    ):
        assert seen[what] > 0, f"no example exercised {what!r}: {dict(seen)}"
