"""The contract of access requests and of expiring grants, on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, Table, update

from berth.core.access import Principal, Role
from berth.core.access_requests import AccessRequest, RequestStatus
from berth.core.audit import AuditQuery, acting_as
from berth.core.endpoints import EndpointSpec
from berth.core.errors import BerthError, ErrorCode
from berth.storage.audit_store import SqlAuditStore
from berth.storage.schema import endpoint_grants, endpoints, models
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_access_requests import SqlAccessRequestStore
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version

BOB = Principal("bob", roles={"beta": Role.READER})
"""A reader of team beta: any member may ask for its team."""
ALICE = Principal("alice", roles={"alpha": Role.ADMIN})


@pytest.fixture
def security(store: SqlRegistryStore, database_url: str) -> Iterator[SqlSecurityStore]:
    opened = SqlSecurityStore(database_url)
    opened.create_team("alpha")
    opened.create_team("beta")
    store.create_version("shared", new_version(), team="alpha")
    store.create_version("secret", new_version(), team="alpha")
    _discoverable(opened.engine, models, "shared")
    yield opened
    opened.close()


@pytest.fixture
def requests(security: SqlSecurityStore) -> SqlAccessRequestStore:
    return SqlAccessRequestStore(security.engine)


def _discoverable(engine: Engine, table: Table, name: str) -> None:
    """Make a model or endpoint discoverable (the catalog's API sets it; this is its column)."""
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.name == name).values(visibility="discoverable"))


def _error(call: Callable[[], object]) -> BerthError:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value


def _ask(
    requests: SqlAccessRequestStore, target: str = "shared", who: Principal = BOB, team: str = "beta"
) -> AccessRequest:
    with acting_as(who.name):
        return requests.create(who, target=target, team=team, reason="scoring campaign")


def test_a_request_is_made_approved_and_becomes_an_expiring_grant(
    security: SqlSecurityStore, requests: SqlAccessRequestStore
) -> None:
    before = security.generations()[1]
    made = _ask(requests)
    assert (made.status, made.resource_kind, made.resource_name, made.owner_team, made.team) == (
        RequestStatus.PENDING,
        "model",
        "shared",
        "alpha",
        "beta",
    )
    assert made.requester == "bob"
    assert security.generations()[1] > before
    assert requests.get(made.id) == made
    with acting_as("alice"):
        approved = requests.approve(made.id, expires_in_s=3600, reason="ok for Q3")
    assert approved.status is RequestStatus.APPROVED
    assert (approved.decided_by, approved.decision_reason) == ("alice", "ok for Q3")
    assert approved.grant_expires_at is not None
    assert timedelta(minutes=59) < approved.grant_expires_at - datetime.now(UTC) <= timedelta(hours=1)
    [grant] = security.list_grants("shared")
    assert (grant.team, grant.granted_by, grant.expires_at) == ("beta", "alice", approved.grant_expires_at)
    snapshot = security.access_snapshot()
    uid = snapshot.identities["shared"]
    assert snapshot.grants == {"beta": frozenset({uid})}
    assert snapshot.grant_expiries == {("beta", uid): approved.grant_expires_at.timestamp()}
    assert snapshot.next_expiry == approved.grant_expires_at.timestamp()
    # decided once: approving, denying or withdrawing again is refused with a stable code
    assert _error(lambda: requests.approve(made.id)).code is ErrorCode.ACCESS_REQUEST_DECIDED
    assert _error(lambda: requests.deny(made.id, reason="no")).code is ErrorCode.ACCESS_REQUEST_DECIDED
    assert _error(lambda: requests.withdraw(made.id)).code is ErrorCode.ACCESS_REQUEST_DECIDED
    # the team holds it now: asking again is refused
    assert _error(lambda: _ask(requests)).code is ErrorCode.ACCESS_ALREADY_HELD


def test_what_may_not_be_asked_for(security: SqlSecurityStore, requests: SqlAccessRequestStore) -> None:
    missing = _error(lambda: _ask(requests, "nothing-here"))
    private = _error(lambda: _ask(requests, "secret"))
    # a private model of another team answers exactly as a missing name (the name aside)
    assert missing.code is private.code is ErrorCode.MODEL_NOT_FOUND
    assert missing.message.replace("nothing-here", "X") == private.message.replace("secret", "X")
    assert missing.details.keys() == private.details.keys()
    # its own team's model: it has access already (a member of alpha asking for alpha)
    own = Principal("al", roles={"alpha": Role.READER, "beta": Role.READER})
    assert _error(lambda: _ask(requests, "shared", own, "alpha")).code is ErrorCode.ACCESS_ALREADY_HELD
    # only for a team one is a member of; the team must exist
    assert _error(lambda: _ask(requests, team="alpha")).code is ErrorCode.FORBIDDEN
    assert _error(lambda: _ask(requests, team="ghost")).code is ErrorCode.INVALID_REQUEST
    # a reason is required and bounded; only predict may be asked for
    with pytest.raises(BerthError) as caught:
        requests.create(BOB, target="shared", team="beta", reason="  ")
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    with pytest.raises(BerthError) as caught:
        requests.create(BOB, target="shared", team="beta", reason="x" * 2001)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    with pytest.raises(BerthError) as caught:
        requests.create(BOB, target="shared", team="beta", reason="why", action="delete")
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    # a model one may discover because one holds a grant on it: asking is "already held"
    security.grant_endpoint("secret", "beta")
    granted = Principal("bob", roles={"beta": Role.PREDICTOR}, granted=frozenset({"secret"}))
    assert _error(lambda: _ask(requests, "secret", granted)).code is ErrorCode.ACCESS_ALREADY_HELD
    assert requests.list_requests() == []  # nothing refused was stored


def test_one_pending_request_per_team_and_target(requests: SqlAccessRequestStore) -> None:
    first = _ask(requests)
    again = _error(lambda: _ask(requests, who=Principal("carol", roles={"beta": Role.PREDICTOR})))
    assert again.code is ErrorCode.ACCESS_REQUEST_PENDING
    assert again.details["request"] == first.id
    with acting_as("bob"):
        withdrawn = requests.withdraw(first.id)
    assert withdrawn.status is RequestStatus.WITHDRAWN
    second = _ask(requests)  # withdrawn: one may ask again
    with acting_as("alice"):
        denied = requests.deny(second.id, reason="use churn-lite")
    assert (denied.status, denied.decision_reason) == (RequestStatus.DENIED, "use churn-lite")
    assert _error(lambda: requests.deny(999_999, reason="x")).code is ErrorCode.ACCESS_REQUEST_NOT_FOUND
    assert _error(lambda: requests.approve(999_999)).code is ErrorCode.ACCESS_REQUEST_NOT_FOUND
    with pytest.raises(BerthError) as caught:
        requests.deny(_ask(requests).id, reason="")
    assert caught.value.code is ErrorCode.INVALID_REQUEST  # a denial says why


def test_concurrent_duplicates_make_one_request(requests: SqlAccessRequestStore) -> None:
    outcomes: list[object] = []
    start = threading.Barrier(4)

    def ask(n: int) -> None:
        start.wait()
        who = Principal(f"member{n}", roles={"beta": Role.READER})
        try:
            outcomes.append(requests.create(who, target="shared", team="beta", reason="r"))
        except BerthError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(o) for o in outcomes if isinstance(o, ErrorCode)) == ["access_request_pending"] * 3
    assert len(requests.list_requests(status=RequestStatus.PENDING)) == 1


def test_listing_by_requester_owner_and_status(
    requests: SqlAccessRequestStore, store: SqlRegistryStore
) -> None:
    store.create_version("gamma-model", new_version(), team="gamma")
    _discoverable(store.engine, models, "gamma-model")
    a = _ask(requests)
    g = _ask(requests, "gamma-model")
    other = _ask(requests, "gamma-model", Principal("cy", roles={"alpha": Role.READER}), "alpha")
    assert [r.id for r in requests.list_requests(requester="bob")] == [g.id, a.id]  # newest first
    assert [r.id for r in requests.list_requests(owner_teams=["alpha"])] == [a.id]
    assert [r.id for r in requests.list_requests(owner_teams=["gamma"])] == [other.id, g.id]
    assert [r.id for r in requests.list_requests(requester="cy", owner_teams=["alpha"])] == [other.id, a.id]
    assert requests.list_requests(owner_teams=[]) == []
    requests.withdraw(a.id)
    assert [r.id for r in requests.list_requests(status=RequestStatus.WITHDRAWN)] == [a.id]


def test_approving_what_was_deleted_and_made_again_is_stale(
    security: SqlSecurityStore, requests: SqlAccessRequestStore, store: SqlRegistryStore
) -> None:
    endpoint_store = SqlEndpointStore(store.engine)
    spec = EndpointSpec.from_json({"targets": [{"target": "shared", "weight": 100}]})
    endpoint_store.create_endpoint("scoring", spec, team="alpha", actor="alice")
    _discoverable(store.engine, endpoints, "scoring")
    made = _ask(requests, "scoring")
    assert made.resource_kind == "endpoint"
    endpoint_store.delete_endpoint("scoring", actor="alice")
    endpoint_store.create_endpoint("scoring", spec, team="alpha", actor="alice")  # another identity
    stale = _error(lambda: requests.approve(made.id))
    assert stale.code is ErrorCode.ACCESS_REQUEST_STALE
    assert security.list_grants("scoring") == []
    assert requests.get(made.id).status is RequestStatus.PENDING  # nothing changed; deny or withdraw it
    # moved to another team since: the old owner's admins may not grant it either
    moved = _ask(requests)
    security.create_team("gamma")
    store.update_model("shared", team="gamma")
    assert _error(lambda: requests.approve(moved.id)).code is ErrorCode.ACCESS_REQUEST_STALE


def test_every_change_is_audited(
    security: SqlSecurityStore, requests: SqlAccessRequestStore, database_url: str
) -> None:
    made = _ask(requests)
    with acting_as("alice", "req-9"):
        requests.approve(made.id, expires_at=datetime.now(UTC) + timedelta(days=2))
    denied = _ask(requests, "secret", Principal("root", admin=True), "beta")
    with acting_as("alice"):
        requests.deny(denied.id, reason="private on purpose")
    gone = _ask(requests, "secret", Principal("root", admin=True), "beta")
    with acting_as("root"):
        requests.withdraw(gone.id)
    audit = SqlAuditStore(security.engine)
    events = audit.query(AuditQuery(action="access_request."))
    assert [(e.actor, e.action, e.resource_name) for e in events] == [
        ("bob", "access_request.create", str(made.id)),
        ("alice", "access_request.approve", str(made.id)),
        ("root", "access_request.create", str(denied.id)),
        ("alice", "access_request.deny", str(denied.id)),
        ("root", "access_request.create", str(gone.id)),
        ("root", "access_request.withdraw", str(gone.id)),
    ]
    assert events[0].after["reason"] == "scoring campaign"
    assert events[1].request_id == "req-9"
    assert events[1].after["status"] == "approved"
    assert events[3].after["reason"] == "private on purpose"
    [grant_event] = audit.query(AuditQuery(action="grant.create"))
    assert grant_event.actor == "alice"
    assert grant_event.after["team"] == "beta"
    assert grant_event.after["expires_at"] is not None


def test_grants_expire_in_the_snapshot_and_can_be_renewed(security: SqlSecurityStore) -> None:
    granted = security.grant_endpoint("secret", "beta", expires_in_s=3600)
    assert granted.expires_at is not None
    snapshot = security.access_snapshot()
    uid = snapshot.identities["secret"]
    at = granted.expires_at.timestamp()
    assert (snapshot.grants, snapshot.next_expiry) == ({"beta": frozenset({uid})}, at)
    # what the table says once the expiry has passed, with no reload
    later = snapshot.without_expired(at)
    assert (later.grants, later.grant_expiries, later.next_expiry) == ({}, {}, math.inf)
    assert snapshot.without_expired(at - 1) is snapshot
    # granting again sets the expiry (here: for good), audited as an update
    forever = security.grant_endpoint("secret", "beta")
    assert forever.expires_at is None
    assert security.access_snapshot().next_expiry == math.inf
    assert security.grant_endpoint("secret", "beta") == forever  # the same: idempotent
    # an expired grant is loaded as nothing, and listed with its expiry
    with security.engine.begin() as conn:
        conn.execute(update(endpoint_grants).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert security.access_snapshot().grants == {}
    [listed] = security.list_grants("secret")
    assert listed.expires_at is not None
    assert listed.expires_at < datetime.now(UTC)
    # bad expiries
    for seconds in (0.0, -5.0, math.nan, 1e12):
        refused = _error(lambda s=seconds: security.grant_endpoint("secret", "beta", expires_in_s=s))
        assert refused.code is ErrorCode.INVALID_REQUEST
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    for at in (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=4000)):
        refused = _error(lambda a=at: security.grant_endpoint("secret", "beta", expires_at=a))
        assert refused.code is ErrorCode.INVALID_REQUEST
    both = _error(lambda: security.grant_endpoint("secret", "beta", expires_in_s=60, expires_at=tomorrow))
    assert both.code is ErrorCode.INVALID_REQUEST
