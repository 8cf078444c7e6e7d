"""Serving-group store contract (SQLite and PostgreSQL): assignments of models and endpoints (with
the change counter and the audit trail), and the replicas' heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from berth.core.endpoints import Endpoint, EndpointSpec
from berth.core.entities import SnapshotScope
from berth.core.errors import BerthError, ErrorCode
from berth.core.serving_groups import ReplicaStatus, Role, check_group_name
from berth.storage.schema import audit_events
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_registry import SqlRegistryStore
from berth.storage.sql_serving_groups import SqlServingGroups
from tests.storage.builders import new_version


@pytest.fixture
def groups(store: SqlRegistryStore) -> SqlServingGroups:
    return SqlServingGroups(store.engine)


def _audit(store: SqlRegistryStore) -> list[tuple[str, str, object, object]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_events).where(audit_events.c.action == "group.assign"))
        return [(r.resource_type, r.resource_name, r.before, r.after) for r in rows]


def test_models_and_endpoints_start_in_the_default_group(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore, groups: SqlServingGroups
) -> None:
    store.create_model("churn")
    endpoint_store.create_endpoint(
        "scoring", EndpointSpec.from_json({"targets": [{"target": "churn", "weight": 1}]})
    )

    assert [(a.name, a.kind, a.group) for a in groups.assignments()] == [
        ("churn", "model", "default"),
        ("scoring", "endpoint", "default"),
    ]
    assert store.snapshot().groups == {"churn": "default", "scoring": "default"}


def test_an_assignment_moves_bumps_the_generation_once_and_is_audited(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore, groups: SqlServingGroups
) -> None:
    store.create_model("churn")
    endpoint_store.create_endpoint(
        "scoring", EndpointSpec.from_json({"targets": [{"target": "churn", "weight": 1}]})
    )
    before = store.generation()

    moved = groups.assign("scoring", "risk", actor="ops", reason="isolate")
    again = groups.assign("scoring", "risk", actor="ops")

    assert (moved.kind, moved.group) == ("endpoint", "risk") == (again.kind, again.group)
    assert store.generation() == before + 1
    assert store.snapshot().groups["scoring"] == "risk"
    assert _audit(store) == [
        ("endpoint", "scoring", {"group": "default"}, {"group": "risk", "reason": "isolate"})
    ]


def test_an_unknown_name_is_not_found(groups: SqlServingGroups) -> None:
    with pytest.raises(BerthError) as caught:
        groups.assign("ghost", "risk")

    assert caught.value.code is ErrorCode.MODEL_NOT_FOUND


@pytest.mark.parametrize("group", ["Risk", "-x", "x-", "a" * 41, "a_b", "", "a.b", "ünï"])
def test_a_group_name_is_a_dns_label(groups: SqlServingGroups, store: SqlRegistryStore, group: str) -> None:
    store.create_model("churn")

    with pytest.raises(BerthError) as caught:
        groups.assign("churn", group)

    assert caught.value.code is ErrorCode.INVALID_NAME


@pytest.mark.parametrize("group", ["a", "risk", "team-7", "a" * 40])
def test_valid_group_names(group: str) -> None:
    assert check_group_name(group) == group


def _status(replica: str, at: datetime, ready: set[str], group: str | None = "risk") -> ReplicaStatus:
    return ReplicaStatus(
        replica_id=replica,
        role=Role.DATA,
        group=group,
        url=f"http://{replica}:8080",
        started_at=at,
        heartbeat_at=at,
        ready=frozenset(ready),
    )


def test_heartbeats_replace_a_replicas_row_and_age_out(groups: SqlServingGroups) -> None:
    now = datetime.now(UTC)
    groups.heartbeat(_status("a", now - timedelta(seconds=1), {"churn"}))
    groups.heartbeat(_status("a", now, {"churn", "fraud"}))
    groups.heartbeat(_status("b", now - timedelta(seconds=30), {"churn"}, group=None))

    live = groups.replicas(live_within=timedelta(seconds=10), now=now)

    assert [(r.replica_id, r.ready, r.group) for r in live] == [("a", frozenset({"churn", "fraud"}), "risk")]
    assert live[0].started_at == now - timedelta(seconds=1)  # the first heartbeat's
    assert groups.forget_older_than(timedelta(seconds=10)) == 1
    groups.forget("a")
    assert groups.replicas(live_within=timedelta(days=1)) == []


def test_a_snapshot_scoped_to_a_group_reads_its_models_those_its_endpoints_call_and_the_named(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore, groups: SqlServingGroups
) -> None:
    for name in ("churn", "fraud", "limits", "moving", "other"):
        store.create_version(name, new_version())
    store.set_alias("fraud", "production", 1)
    endpoint_store.create_endpoint(
        "scoring", EndpointSpec.from_json({"targets": [{"target": "limits", "weight": 1}]})
    )
    for name in ("fraud", "scoring"):
        groups.assign(name, "risk")
    for name in ("limits", "moving", "other"):
        groups.assign(name, "elsewhere")

    def referenced(endpoint: Endpoint) -> list[str]:
        return [ref.model for ref in endpoint.spec.referenced()]

    risk = store.snapshot(SnapshotScope(group="risk", referenced=referenced, also=frozenset({"moving"})))
    nothing = store.snapshot(SnapshotScope(group=None, referenced=referenced))
    everything = store.snapshot()

    assert set(risk.versions) == set(risk.aliases) == {"fraud", "limits", "moving"}
    assert risk.versions["fraud"][1].aliases == ("production",)
    assert risk.aliases["fraud"] == {"production": 1}
    assert risk.groups == everything.groups  # every name's group, to answer not_served_here
    assert set(risk.endpoints) == {"scoring"}
    assert risk.generation == everything.generation
    assert nothing.versions == {}
    assert set(everything.versions) == {"churn", "fraud", "limits", "moving", "other"}
