"""The contract of the security and audit stores, on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from berth.core.access import Role
from berth.core.audit import AuditQuery, acting_as
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import token_hash
from berth.storage.audit_store import SqlAuditStore
from berth.storage.schema import api_tokens
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


@pytest.fixture
def security(store: SqlRegistryStore, database_url: str) -> Iterator[SqlSecurityStore]:
    opened = SqlSecurityStore(database_url)
    yield opened
    opened.close()


@pytest.fixture
def audit(security: SqlSecurityStore) -> SqlAuditStore:
    return SqlAuditStore(security.engine)


def _code(call: object) -> ErrorCode:
    assert callable(call)
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def test_teams_members_and_roles(security: SqlSecurityStore) -> None:
    assert [t.name for t in security.list_teams()] == ["default"]  # the migration makes it
    security.create_team("risk", description="credit risk")
    assert _code(lambda: security.create_team("risk")) is ErrorCode.ALREADY_EXISTS
    assert _code(lambda: security.create_team("../x")) is ErrorCode.INVALID_NAME
    security.set_member("risk", "ann", Role.READER)
    security.set_member("risk", "ann", Role.MAINTAINER)  # replaces
    security.set_member("risk", "bo", Role.PREDICTOR)
    assert [(m.principal, m.role) for m in security.list_members("risk")] == [
        ("ann", Role.MAINTAINER),
        ("bo", Role.PREDICTOR),
    ]
    assert _code(lambda: security.set_member("ghost", "ann", Role.READER)) is ErrorCode.INVALID_REQUEST
    security.remove_member("risk", "bo")
    assert _code(lambda: security.remove_member("risk", "bo")) is ErrorCode.INVALID_REQUEST
    assert [m.principal for m in security.list_members("risk")] == ["ann"]


def test_grants_need_an_existing_team(security: SqlSecurityStore, store: SqlRegistryStore) -> None:
    security.create_team("fraud")
    store.create_version("churn", new_version())
    granted = security.grant_endpoint("churn", "fraud")
    assert security.grant_endpoint("churn", "fraud") == granted  # idempotent
    with pytest.raises(BerthError, match="team 'ghost' does not exist") as caught:
        security.grant_endpoint("churn", "ghost")
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert [(g.endpoint, g.team) for g in security.list_grants()] == [("churn", "fraud")]
    security.revoke_grant("churn", "fraud")
    assert security.list_grants("churn") == []
    assert _code(lambda: security.revoke_grant("churn", "fraud")) is ErrorCode.INVALID_REQUEST


def test_tokens_are_stored_as_hashes_and_revocable(security: SqlSecurityStore) -> None:
    issued = security.create_token("ann", expires_days=30, description="ci")
    assert issued.secret.startswith("berth_")
    assert len(issued.secret) > 40
    assert issued.token.prefix == issued.secret[:12]
    with security.engine.connect() as conn:
        stored = conn.execute(select(api_tokens)).one()
    assert issued.secret not in [str(v) for v in stored]  # never the token itself
    assert stored.token_hash == token_hash(issued.secret)
    snapshot = security.access_snapshot()
    record = snapshot.tokens[token_hash(issued.secret)]
    assert record.principal == "ann"
    assert not record.revoked
    assert 29 * 86400 < record.expires_at - time.time() <= 30 * 86400
    revoked = security.revoke_token(issued.token.id)
    assert revoked.revoked_at is not None
    assert security.access_snapshot().tokens[token_hash(issued.secret)].revoked
    assert _code(lambda: security.revoke_token(999)) is ErrorCode.TOKEN_NOT_FOUND
    assert _code(lambda: security.create_token("ann", expires_days=0)) is ErrorCode.INVALID_REQUEST
    assert _code(lambda: security.create_token("a b")) is ErrorCode.INVALID_NAME
    assert [t.id for t in security.list_tokens("ann")] == [issued.token.id]


def test_the_access_snapshot_and_change_counters(store: SqlRegistryStore, security: SqlSecurityStore) -> None:
    registry_before, security_before = security.generations()
    store.create_version("churn", new_version(), team="risk")  # a model's team becomes a team
    security.set_member("risk", "ann", Role.ADMIN)
    security.create_token("root", admin=True)
    security.create_team("ops")
    security.grant_endpoint("churn", "ops")
    registry_after, security_after = security.generations()
    assert registry_after > registry_before
    assert security_after >= security_before + 4
    snapshot = security.access_snapshot()
    assert snapshot.model_teams == {"churn": "risk"}
    assert snapshot.memberships == {"ann": {"risk": Role.ADMIN}}
    assert snapshot.admins == {"root"}
    assert snapshot.grants == {"ops": frozenset({snapshot.identities["churn"]})}
    assert snapshot.teams == {"default", "risk", "ops"}
    security.set_admin("root", False)
    assert security.access_snapshot().admins == frozenset()


def test_registry_changes_are_audited_in_their_transaction(
    store: SqlRegistryStore, security: SqlSecurityStore, audit: SqlAuditStore
) -> None:
    with acting_as("ann", "req-1"):
        store.create_model("churn", team="risk")
        store.create_version("churn", new_version(trusted=False), team="risk")
        store.set_alias("churn", "production", 1, reason="release")
        store.update_version_metadata("churn", 1, {"docs": "card"})
        store.update_model("churn", description="who leaves")
        store.delete_alias("churn", "production")
    events = audit.query(AuditQuery())
    assert [(e.actor, e.action, e.resource_name, e.request_id) for e in events] == [
        ("ann", "team.create", "risk", "req-1"),  # made by creating a model in it: audited too
        ("ann", "model.create", "churn", "req-1"),
        ("ann", "version.push", "churn:1", "req-1"),
        ("ann", "alias.set", "churn@production", "req-1"),
        ("ann", "version.metadata", "churn:1", "req-1"),
        ("ann", "model.update", "churn", "req-1"),
        ("ann", "alias.delete", "churn@production", "req-1"),
    ]
    assert events[3].before is None
    assert events[3].after == {"version": 1, "reason": "release"}
    assert events[5].before["description"] == ""
    assert events[5].after["description"] == "who leaves"
    # a change that fails leaves no event behind, and an event never outlives a rolled-back change
    count = len(events)
    with pytest.raises(BerthError):
        store.set_alias("churn", "production", 99)
    assert len(audit.query(AuditQuery())) == count
    # without an authenticated context, the actor the caller gave is kept
    store.set_alias("churn", "staging", 1, actor="cli-user")
    assert audit.query(AuditQuery(action="alias.set"))[-1].actor == "cli-user"


def test_audit_queries_and_exports(
    store: SqlRegistryStore, security: SqlSecurityStore, audit: SqlAuditStore
) -> None:
    with acting_as("root"):
        security.create_team("a")
        security.create_team("b")
        security.set_member("a", "ann", Role.READER)
    with acting_as("ann"):
        store.create_model("m", team="a")
    assert [e.action for e in audit.query(AuditQuery(actor="root"))] == ["team.create"] * 2 + ["member.set"]
    assert [e.resource_name for e in audit.query(AuditQuery(action="team."))] == ["a", "b"]
    assert len(audit.query(AuditQuery(resource_type="team", resource_name="a"))) == 2
    first = audit.query(AuditQuery(limit=1))
    assert next(e.action for e in audit.query(AuditQuery(after_id=first[0].id))) == "team.create"
    assert audit.query(AuditQuery(since=first[0].at, until=first[0].at)) == []
    lines = b"".join(audit.export(AuditQuery(), "jsonl")).splitlines()
    assert len(lines) == 4
    table = b"".join(audit.export(AuditQuery(actor="ann"), "csv")).decode().splitlines()
    assert table[0].startswith("id,at,actor,action")
    assert len(table) == 2
    assert _code(lambda: list(audit.export(AuditQuery(), "xml"))) is ErrorCode.INVALID_REQUEST
    assert _code(lambda: audit.query(AuditQuery(limit=0))) is ErrorCode.INVALID_REQUEST


def test_the_audit_trail_is_append_only_by_the_stores(
    security: SqlSecurityStore, audit: SqlAuditStore
) -> None:
    """No store method updates or deletes an event: every change only ever adds rows."""
    with acting_as("root"):
        security.create_team("x")
        token = security.create_token("ann")
        security.revoke_token(token.token.id)
        security.set_member("x", "ann", Role.READER)
        security.remove_member("x", "ann")
    ids = [e.id for e in audit.query(AuditQuery())]
    assert ids == sorted(ids)
    assert len(ids) == 5
    with security.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 5
