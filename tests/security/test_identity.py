"""Names do not outlive what they name; a push lands only in the team it was authorized for; job
triggers listen to one alert rule, not to a name (issue 12, items 4, 5 and 12).

A real server with authentication on, on SQLite and on PostgreSQL: team alpha (alice maintainer,
dave reader), team beta (bob maintainer), team gamma (gina predictor), root a platform admin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from berth.client.registry import RemoteRegistry
from berth.control.packaging import package_object
from berth.core.access import Role
from berth.core.entities import PushRequest
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.core.tensors import InferenceRequest, Tensor
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.server.grpc.codec import encode_infer_request
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.storage.db import create_database_engine
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_alerts import SqlAlertStore
from tests.conftest import Trained
from tests.records.builders import ingest, record
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import free_port, server_in_thread

MEMBERS = {"alice": ("alpha", Role.MAINTAINER), "dave": ("alpha", Role.READER)}
MEMBERS |= {"bob": ("beta", Role.MAINTAINER), "gina": ("gamma", Role.PREDICTOR)}


@dataclass(frozen=True)
class Site:
    url: str
    grpc_address: str
    database_url: str
    tokens: dict[str, str]
    x: list[float]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def registry(self, who: str) -> RemoteRegistry:
        return RemoteRegistry(self.url, token=self.tokens[who])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('identity') / 'berth.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Site]:
    store = SqlSecurityStore(database_url)
    try:
        for team in ("alpha", "beta", "gamma"):
            store.create_team(team)
        for who, (team, role) in MEMBERS.items():
            store.set_member(team, who, role)
        tokens = {who: store.create_token(who, admin=who == "root").secret for who in ["root", *MEMBERS]}
    finally:
        store.close()
    grpc_port = free_port()
    settings = Settings(
        home=tmp_path_factory.mktemp("identity-home"),
        database_url=database_url,
        poll_interval_s=0.1,
        auth="tokens",
        grpc_port=grpc_port,
    )
    with server_in_thread(settings) as url:
        here = Site(url, f"127.0.0.1:{grpc_port}", database_url, tokens, [float(v) for v in lr.x[0]])
        for who, name in (("alice", "alpha-model"), ("bob", "beta-model")):
            registry = here.registry(who)
            try:
                team = MEMBERS[who][0]
                registry.push_object(
                    lr.model, PushRequest(name=name, team=team, input_example=lr.x[:2], aliases=("live",))
                )
            finally:
                registry.close()
        yield here


@pytest.fixture
def http(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        yield client


def _infer_body(site: Site) -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": site.x}]}


def _grpc_infer(site: Site, who: str, name: str) -> grpc.StatusCode:
    tensor = Tensor("input-0", "FP32", (1, 20), np.asarray([site.x], dtype=np.float32))
    message = encode_infer_request(InferenceRequest([tensor]), name)
    with grpc.insecure_channel(site.grpc_address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        try:
            stub.ModelInfer(message, metadata=(("authorization", f"Bearer {site.tokens[who]}"),))
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
    return grpc.StatusCode.OK


def _rule(name: str, target: str) -> dict[str, Any]:
    return {"name": name, "target": target, "metric": "error_rate", "op": ">", "threshold": 0.5}


def _log_alert(site: Site, rule: str, target: str) -> None:
    """An alert fired on `target` now, in the alert log (as a monitor writes it)."""
    engine = create_database_engine(site.database_url)
    try:
        SqlAlertStore(engine).append_event(rule, target, "fired", 0.9, "error_rate is 0.9", datetime.now(UTC))
    finally:
        engine.dispose()


# -- item 4: a name's next holder inherits nothing -------------------------------------------------


def test_a_recreated_endpoint_inherits_no_grant_rule_record_or_history(
    http: httpx.Client, site: Site
) -> None:
    name = "shared-name"
    beta = {"name": name, "team": "beta", "targets": [{"target": "beta-model@live"}]}
    assert http.post("/api/v1/endpoints", headers=site.auth("bob"), json=beta).status_code == 201
    # beta shares it with gamma (through root, beta's admin here), watches it, and it answers
    assert http.put(f"/api/v1/grants/{name}/gamma", headers=site.auth("root")).status_code == 200
    watched = http.post("/api/v1/alerts/rules", headers=site.auth("bob"), json=_rule("beta-watch", name))
    assert watched.status_code == 201, watched.text
    assert (
        http.post(f"/v2/models/{name}/infer", headers=site.auth("gina"), json=_infer_body(site)).status_code
        == 200
    )
    ingest(site.database_url, [record(1, endpoint=name, model="beta-model", at=datetime.now(UTC))])
    _log_alert(site, "beta-watch", name)
    logged = http.get("/api/v1/alerts/events", headers=site.auth("bob"), params={"target": name})
    assert len(logged.json()["events"]) == 1
    assert http.get("/api/v1/records/p1", headers=site.auth("bob")).status_code == 200

    deleted = http.delete(f"/api/v1/endpoints/{name}", headers=site.auth("bob"))
    assert deleted.status_code == 200, deleted.text
    # the grant and the rule went with the endpoint, in its transaction, audited
    assert http.get("/api/v1/alerts/rules/beta-watch", headers=site.auth("root")).status_code == 404
    audit = http.get("/api/v1/audit", headers=site.auth("root"), params={"resource_name": name}).json()
    assert [(e["action"], e["actor"]) for e in audit if e["action"] == "grant.revoke"] == [
        ("grant.revoke", "bob")
    ]
    rules_audit = http.get("/api/v1/audit", headers=site.auth("root"), params={"resource_name": "beta-watch"})
    assert "alert_rule.delete" in rules_audit.text

    alpha = {"name": name, "team": "alpha", "targets": [{"target": "alpha-model@live"}]}
    assert http.post("/api/v1/endpoints", headers=site.auth("alice"), json=alpha).status_code == 201
    # gamma's grant was on beta's endpoint: alpha's does not exist for gina, over REST and gRPC
    refused = http.post(f"/v2/models/{name}/infer", headers=site.auth("gina"), json=_infer_body(site))
    assert refused.status_code == 404, refused.text
    assert _grpc_infer(site, "gina", name) is grpc.StatusCode.NOT_FOUND
    assert http.get(f"/api/v1/grants/{name}", headers=site.auth("alice")).json() == []
    # alpha's reader sees none of beta's records, and none of beta's history
    page = http.get("/api/v1/records", headers=site.auth("dave"), params={"endpoint": name})
    assert page.status_code == 200, page.text
    assert page.json()["records"] == []
    assert http.get("/api/v1/records/p1", headers=site.auth("dave")).status_code == 404
    alerts = http.get("/api/v1/alerts/events", headers=site.auth("dave"), params={"target": name})
    assert alerts.json()["events"] == []
    history = http.get(f"/api/v1/endpoints/{name}/history", headers=site.auth("dave"))
    assert [(e["kind"], e["actor"]) for e in history.json()] == [("create", "alice")]
    # and a rule of the old name's holder does not come back: alpha's rules list is empty
    rules = http.get("/api/v1/alerts/rules", headers=site.auth("alice"), params={"target": name})
    assert rules.json()["rules"] == []
    assert http.delete(f"/api/v1/endpoints/{name}", headers=site.auth("alice")).status_code == 200


def test_a_grant_needs_something_to_grant(http: httpx.Client, site: Site) -> None:
    """No grant can be planted on a free name for whoever takes it next."""
    planted = http.put("/api/v1/grants/free-name/gamma", headers=site.auth("root"))
    assert (planted.status_code, planted.json()["code"]) == (404, "model_not_found")


# -- item 5: a push lands in the team it was authorized for ---------------------------------------


def test_a_push_racing_another_teams_create_never_lands_in_its_model(
    site: Site, lr: Trained, tmp_path: Path
) -> None:
    """bob (beta) pushes a new model while alice (alpha) creates one of the same name: alice's create
    lands at several points of bob's push (after its authorization, before its version is stored).
    Whoever wins, no version or alias of bob's ever lands in alpha's model."""
    artifact = package_object(FlavorCatalog(), lr.model, tmp_path).path
    registry = site.registry("bob")
    try:
        for warmup in ("race-warmup-1", "race-warmup-2"):  # the second one, warm, gives the timing
            started = time.monotonic()
            registry.push_file(artifact, PushRequest(name=warmup, team="beta"))
            push_s = time.monotonic() - started
    finally:
        registry.close()
    for i, share in enumerate((0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
        name = f"race-{i}"
        answers: dict[str, Any] = {}

        def bob_pushes(name: str = name, answers: dict[str, Any] = answers) -> None:
            bob = site.registry("bob")
            try:
                answers["bob"] = bob.push_file(
                    artifact, PushRequest(name=name, team="beta", aliases=("prod",))
                )
            except BerthError as exc:
                answers["bob"] = exc.code
            finally:
                bob.close()

        pusher = threading.Thread(target=bob_pushes)
        pusher.start()
        time.sleep(share * push_s)
        with httpx.Client(base_url=site.url, timeout=60) as http:
            created = http.post(
                "/api/v1/models", headers=site.auth("alice"), json={"name": name, "team": "alpha"}
            )
        pusher.join()
        root = site.registry("root")
        try:
            model, versions, moves = root.get_model(name), root.list_versions(name), root.alias_history(name)
        finally:
            root.close()
        if model.team == "alpha":  # alice's create won: nothing of bob's is in it
            assert created.status_code == 201, created.text
            assert answers["bob"] is ErrorCode.MODEL_NOT_FOUND, answers
            assert (versions, moves) == ([], [])
        else:
            assert created.status_code == 409, created.text
            assert [v.pushed_by for v in versions] == ["bob"]
            assert [m.alias for m in moves] == ["prod"]


# -- item 12: triggers listen to one rule ---------------------------------------------------------


PARAMS = {"model": "alpha-model", "input": "in.csv"}


def test_a_trigger_refers_to_one_rule_that_exists(http: httpx.Client, site: Site) -> None:
    trigger = {"name": "retrain-alpha", "kind": "batch-score", "params": PARAMS, "alert_rule": "alpha-drift"}
    early = http.post("/api/v1/jobs/triggers", headers=site.auth("root"), json=trigger)
    assert (early.status_code, early.json()["code"]) == (404, "alert_not_found")  # no name to plant

    made = http.post(
        "/api/v1/alerts/rules", headers=site.auth("alice"), json=_rule("alpha-drift", "alpha-model")
    )
    assert made.status_code == 201, made.text
    created = http.post("/api/v1/jobs/triggers", headers=site.auth("root"), json=trigger)
    assert created.status_code == 201, created.text
    assert created.json()["alert_rule_id"] == made.json()["id"]

    assert http.delete("/api/v1/alerts/rules/alpha-drift", headers=site.auth("alice")).status_code == 200
    planted = http.post(
        "/api/v1/alerts/rules", headers=site.auth("bob"), json=_rule("alpha-drift", "beta-model")
    )
    assert planted.status_code == 201, planted.text
    # bob's rule has the name, not the identity: the admin's trigger does not listen to it
    assert planted.json()["id"] != made.json()["id"]
    kept = http.get("/api/v1/jobs/triggers/retrain-alpha", headers=site.auth("root")).json()
    assert kept["alert_rule_id"] == made.json()["id"]
    assert http.delete("/api/v1/jobs/triggers/retrain-alpha", headers=site.auth("root")).status_code == 200
    assert http.delete("/api/v1/alerts/rules/alpha-drift", headers=site.auth("bob")).status_code == 200
