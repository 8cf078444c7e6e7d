"""The audit trail holds every change of a scripted sequence of calls: who, what, before and after."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import joblib

from berth.client.registry import RemoteRegistry
from berth.core.entities import PushRequest
from tests.conftest import Trained
from tests.security.conftest import World


def test_every_change_of_a_script_is_audited(world: World, lr: Trained, tmp_path: Path) -> None:
    root = world.auth("root")
    http = httpx.Client(base_url=world.url, timeout=60)
    start = max(
        [e["id"] for e in http.get("/api/v1/audit", headers=root, params={"limit": 10000}).json()] + [0]
    )

    def ok(response: httpx.Response) -> httpx.Response:
        assert response.is_success, response.text
        return response

    ok(http.post("/api/v1/teams", headers=root, json={"name": "gamma", "description": "fraud"}))
    ok(http.put("/api/v1/teams/gamma/members/gina", headers=root, json={"role": "maintainer"}))
    issued = ok(http.post("/api/v1/tokens", headers=root, json={"principal": "gina"})).json()
    gina = {"authorization": f"Bearer {issued['token']}"}
    pickle = tmp_path / "model.joblib"
    joblib.dump(lr.model, pickle)
    registry = RemoteRegistry(world.url, token=issued["token"])
    try:
        registry.push_file(
            pickle, PushRequest(name="gamma-model", team="gamma", trusted=True, input_example=lr.x[:2])
        )
        registry.push_object(lr.model, PushRequest(name="gamma-model", input_example=lr.x[:2]))
    finally:
        registry.close()
    alias = "/api/v1/models/gamma-model/aliases/production"
    ok(http.put(alias, headers=gina, json={"version": 1, "reason": "first release"}))
    ok(http.put(alias, headers=gina, json={"version": 2, "reason": "promotion"}))
    ok(http.put(alias, headers=gina, json={"version": 1, "reason": "rollback"}))
    ok(http.patch("/api/v1/models/gamma-model/versions/1/metadata", headers=gina, json={"docs": "# card"}))
    ok(http.patch("/api/v1/models/gamma-model", headers=gina, json={"description": "routes fraud"}))
    ok(http.delete(alias, headers=gina, params={"reason": "retired"}))
    ok(http.put("/api/v1/grants/gamma-model/alpha", headers=root))
    ok(http.delete("/api/v1/grants/gamma-model/alpha", headers=root))
    ok(http.delete(f"/api/v1/tokens/{issued['id']}", headers=root))
    ok(http.delete("/api/v1/teams/gamma/members/gina", headers=root))

    events = ok(http.get("/api/v1/audit", headers=root, params={"after_id": start})).json()
    trail = [(e["actor"], e["action"], f"{e['resource_type']}:{e['resource_name']}") for e in events]
    assert trail == [
        ("root", "team.create", "team:gamma"),
        ("root", "member.set", "team:gamma"),
        ("root", "token.create", f"token:{issued['id']}"),
        ("gina", "model.create", "model:gamma-model"),
        ("gina", "version.push", "version:gamma-model:1"),
        ("gina", "version.trust", "version:gamma-model:1"),
        ("gina", "version.push", "version:gamma-model:2"),
        ("gina", "alias.set", "alias:gamma-model@production"),
        ("gina", "alias.set", "alias:gamma-model@production"),
        ("gina", "alias.set", "alias:gamma-model@production"),
        ("gina", "version.metadata", "version:gamma-model:1"),
        ("gina", "model.update", "model:gamma-model"),
        ("gina", "alias.delete", "alias:gamma-model@production"),
        ("root", "grant.create", "endpoint:gamma-model"),
        ("root", "grant.revoke", "endpoint:gamma-model"),
        ("root", "token.revoke", f"token:{issued['id']}"),
        ("root", "member.remove", "team:gamma"),
    ]
    moves = [(e["before"], e["after"]) for e in events if e["action"] == "alias.set"]
    assert moves == [
        (None, {"version": 1, "reason": "first release"}),
        ({"version": 1}, {"version": 2, "reason": "promotion"}),
        ({"version": 2}, {"version": 1, "reason": "rollback"}),
    ]
    push = next(e for e in events if e["action"] == "version.push")
    assert push["after"]["trusted"] is True
    assert push["after"]["pushed_by"] == "gina"
    assert len(push["after"]["sha256"]) == 64
    metadata = next(e for e in events if e["action"] == "version.metadata")
    assert (metadata["before"]["docs"], metadata["after"]["docs"]) == ("", "# card")
    assert next(e for e in events if e["action"] == "member.set")["after"] == {
        "principal": "gina",
        "role": "maintainer",
    }
    assert all(e["at"] for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)

    # queryable: by actor, by action prefix, by resource
    by_gina = http.get("/api/v1/audit", headers=root, params={"after_id": start, "actor": "gina"}).json()
    assert len(by_gina) == 10
    aliases = http.get("/api/v1/audit", headers=root, params={"after_id": start, "action": "alias."}).json()
    assert [e["action"] for e in aliases] == ["alias.set"] * 3 + ["alias.delete"]
    version = http.get(
        "/api/v1/audit", headers=root, params={"resource_type": "version", "resource_name": "gamma-model:1"}
    ).json()
    assert [e["action"] for e in version] == ["version.push", "version.trust", "version.metadata"]

    # exportable: JSON lines and CSV hold the same events
    params = {"actor": "gina"}
    lines = ok(http.get("/api/v1/audit/export", headers=root, params={**params, "format": "jsonl"})).text
    exported = [json.loads(line) for line in lines.splitlines()]
    assert [e["id"] for e in exported][-10:] == [e["id"] for e in by_gina]
    table = ok(http.get("/api/v1/audit/export", headers=root, params={**params, "format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [int(r["id"]) for r in rows] == [e["id"] for e in exported]
    assert json.loads(rows[-1]["before"]) == {"version": 1}
    http.close()
