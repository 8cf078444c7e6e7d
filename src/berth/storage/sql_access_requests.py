"""`SqlAccessRequestStore`: access requests and their decisions (see `AccessRequestStore`).

Every change (create, approve, deny, withdraw) runs in one write transaction that also appends its
audit event (``access_request.*``) and bumps the security change counter, so every server reloads
its access table; an approval writes its grant (`put_grant`) in the same transaction.

Whether a request may be made is read here, in the transaction, straight from the models and
endpoints tables (owner, identity, visibility) and decided by `berth.core.access.authorize`
(`DISCOVER`): a private model of another team answers exactly as a missing name, after the same
queries (both tables are read for every name, found or not).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, insert, select, update

from berth.core.access import Action, Principal, Resource, ResourceKind, Visibility, authorize
from berth.core.access_requests import (
    AccessRequest,
    RequestStatus,
    check_action,
    check_reason,
    request_not_found,
)
from berth.core.audit import current_audit_context
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import check_team_name, grant_expiry
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import access_requests, endpoint_grants, endpoints, models, security_state, teams
from berth.storage.security_store import put_grant, team_row
from berth.storage.transactions import run_transaction

MAX_LISTED: Final = 1000
"""The most requests one list answers (newest first)."""


def _request(row: Row[Any]) -> AccessRequest:
    return AccessRequest(
        id=int(row.id),
        resource_kind=row.resource_kind,
        resource_name=row.resource_name,
        owner_team=row.owner_team,
        requester=row.requester,
        team=row.team,
        action=row.action,
        reason=row.reason,
        status=RequestStatus(row.status),
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        grant_expires_at=row.grant_expires_at,
    )


def _target(conn: Connection, name: str) -> tuple[Resource, str | None]:
    """The model or endpoint called `name` as a resource (team None: none) and its identity. Both
    tables are read whatever the first answers: a missing name costs what a hidden one does."""
    found: tuple[Resource, str | None] = (Resource(ResourceKind.MODEL, name), None)
    for kind, table in ((ResourceKind.MODEL, models), (ResourceKind.ENDPOINT, endpoints)):
        stmt = select(table.c.team, table.c.uid, table.c.visibility).where(table.c.name == name)
        row = conn.execute(stmt).first()
        if row is not None:
            discoverable = row.visibility == Visibility.DISCOVERABLE.value
            found = (Resource(kind, name, row.team, discoverable), str(row.uid))
    return found


def _bump(conn: Connection) -> None:
    conn.execute(update(security_state).values(generation=security_state.c.generation + 1))


def _actor() -> str:
    context = current_audit_context()
    return context.actor if context is not None else ""


def _held(conn: Connection, target_uid: str, team_id: int, now: datetime) -> bool:
    """Whether team `team_id` holds a grant on `target_uid` that has not expired by `now`."""
    stmt = select(endpoint_grants.c.expires_at).where(
        (endpoint_grants.c.target_uid == target_uid) & (endpoint_grants.c.team_id == team_id)
    )
    found = conn.execute(stmt).first()
    return found is not None and (found.expires_at is None or found.expires_at > now)


def _locked_request(conn: Connection, request_id: int) -> Row[Any]:
    stmt = select(access_requests).where(access_requests.c.id == request_id).with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise request_not_found(request_id)
    return row


def _pending(row: Row[Any]) -> None:
    if row.status != RequestStatus.PENDING.value:
        raise BerthError(
            ErrorCode.ACCESS_REQUEST_DECIDED,
            f"access request {row.id} is {row.status} already: only a pending request changes",
            request=int(row.id),
            status=row.status,
        )


def _summary(row: Row[Any] | AccessRequest) -> dict[str, Any]:
    return {
        "resource_kind": row.resource_kind,
        "resource_name": row.resource_name,
        "owner_team": row.owner_team,
        "requester": row.requester,
        "team": row.team,
        "action": row.action,
    }


class SqlAccessRequestStore:
    """Access requests in the registry database (the security store's engine)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, principal: Principal, *, target: str, team: str, reason: str, action: str = "predict"
    ) -> AccessRequest:
        """`principal` asks for `action` on `target` for `team` (one of its teams).

        INVALID_REQUEST: no such team, a bad reason or action; FORBIDDEN: `principal` is not a
        member of `team`; MODEL_NOT_FOUND: nothing `principal` may discover is called `target`;
        ACCESS_ALREADY_HELD: `team` owns it or holds a live grant on it; ACCESS_REQUEST_PENDING:
        `team` asked for it already and has no answer yet."""
        check_team_name(team)
        check_team_name(target)  # model and endpoint names follow the team name rule
        text = check_reason(reason, required=True)
        check_action(action)

        def work(conn: Connection) -> AccessRequest:
            row = team_row(conn, team)
            authorize(principal, Action.READ, Resource.of_team(team))  # a member of it
            resource, uid = _target(conn, target)
            authorize(principal, Action.DISCOVER, resource)
            if uid is None or resource.team is None:  # authorize refuses what does not exist
                raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {target!r} not found", model=target)
            now = q.now()
            if resource.team == team or _held(conn, uid, int(row.id), now):
                raise BerthError(
                    ErrorCode.ACCESS_ALREADY_HELD,
                    f"team {team!r} may call {target!r} already",
                    team=team,
                    target=target,
                )
            # one request at a time per team: concurrent duplicates wait here (SQLite: the write lock)
            conn.execute(select(teams.c.id).where(teams.c.id == row.id).with_for_update())
            pending = conn.execute(
                select(access_requests.c.id).where(
                    (access_requests.c.target_uid == uid)
                    & (access_requests.c.team == team)
                    & (access_requests.c.action == action)
                    & (access_requests.c.status == RequestStatus.PENDING.value)
                )
            ).first()
            if pending is not None:
                raise BerthError(
                    ErrorCode.ACCESS_REQUEST_PENDING,
                    f"team {team!r} asked for {target!r} already (request {pending.id}, pending)",
                    request=int(pending.id),
                )
            values = {
                "resource_kind": resource.kind.value,
                "resource_name": target,
                "target_uid": uid,
                "owner_team": resource.team,
                "requester": principal.name,
                "team": team,
                "action": action,
                "reason": text,
                "status": RequestStatus.PENDING.value,
                "created_at": now,
            }
            request_id = conn.execute(
                insert(access_requests).values(**values).returning(access_requests.c.id)
            ).scalar_one()
            created = _request(
                conn.execute(select(access_requests).where(access_requests.c.id == request_id)).one()
            )
            record_event(
                conn,
                "access_request.create",
                "access_request",
                str(request_id),
                after={**_summary(created), "reason": text},
            )
            _bump(conn)
            return created

        return run_transaction(self._engine, work, write=True)

    def target(self, name: str) -> Resource:
        """The model or endpoint called `name` as a resource, with its visibility (team None: none)."""
        return run_transaction(self._engine, lambda conn: _target(conn, name)[0])

    def get(self, request_id: int) -> AccessRequest:
        def work(conn: Connection) -> AccessRequest:
            row = conn.execute(select(access_requests).where(access_requests.c.id == request_id)).first()
            if row is None:
                raise request_not_found(request_id)
            return _request(row)

        return run_transaction(self._engine, work)

    def list_requests(
        self,
        *,
        requester: str | None = None,
        owner_teams: Collection[str] | None = None,
        status: RequestStatus | None = None,
        limit: int = MAX_LISTED,
    ) -> list[AccessRequest]:
        """Requests, newest first: made by `requester`, or to one of `owner_teams` (either, when
        both are given; None: no condition of that kind), in `status` (None: any)."""
        if not 1 <= limit <= MAX_LISTED:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"limit is 1 to {MAX_LISTED}")
        stmt = select(access_requests)
        whose = []
        if requester is not None:
            whose.append(access_requests.c.requester == requester)
        if owner_teams is not None:
            whose.append(access_requests.c.owner_team.in_(sorted(owner_teams)))
        if len(whose) == 2:
            stmt = stmt.where(whose[0] | whose[1])
        elif whose:
            stmt = stmt.where(whose[0])
        if status is not None:
            stmt = stmt.where(access_requests.c.status == status.value)
        stmt = stmt.order_by(access_requests.c.id.desc()).limit(limit)
        return run_transaction(self._engine, lambda conn: [_request(r) for r in conn.execute(stmt)])

    def approve(
        self,
        request_id: int,
        *,
        reason: str = "",
        expires_in_s: float | None = None,
        expires_at: datetime | None = None,
    ) -> AccessRequest:
        """Grant what request `request_id` asks for (expiring as given; neither: never) and mark it
        approved. ACCESS_REQUEST_DECIDED: it is not pending; ACCESS_REQUEST_STALE: its target was
        deleted (the name may hold another model or endpoint now) or moved to another team, or the
        requesting team was deleted."""
        text = check_reason(reason, required=False)

        def work(conn: Connection) -> AccessRequest:
            row = _locked_request(conn, request_id)
            _pending(row)
            now = q.now()
            expiry = grant_expiry(now, expires_in_s=expires_in_s, expires_at=expires_at)
            resource, uid = _target(conn, row.resource_name)
            if uid != row.target_uid or resource.team != row.owner_team:
                raise BerthError(
                    ErrorCode.ACCESS_REQUEST_STALE,
                    f"{row.resource_name!r} was deleted or moved to another team since request "
                    f"{row.id} was made: the requester may ask again",
                    request=int(row.id),
                )
            grantee = conn.execute(select(teams).where(teams.c.name == row.team)).first()
            if grantee is None:
                raise BerthError(
                    ErrorCode.ACCESS_REQUEST_STALE,
                    f"team {row.team!r} was deleted since request {row.id} was made",
                    request=int(row.id),
                )
            put_grant(conn, row.resource_name, row.target_uid, grantee, expiry)
            return self._decide(conn, row, RequestStatus.APPROVED, text, expiry)

        return run_transaction(self._engine, work, write=True)

    def deny(self, request_id: int, *, reason: str) -> AccessRequest:
        """Refuse request `request_id`, saying why (required). ACCESS_REQUEST_DECIDED: not pending."""
        text = check_reason(reason, required=True)

        def work(conn: Connection) -> AccessRequest:
            row = _locked_request(conn, request_id)
            _pending(row)
            return self._decide(conn, row, RequestStatus.DENIED, text, None)

        return run_transaction(self._engine, work, write=True)

    def withdraw(self, request_id: int) -> AccessRequest:
        """The requester takes a pending request back. ACCESS_REQUEST_DECIDED: not pending."""

        def work(conn: Connection) -> AccessRequest:
            row = _locked_request(conn, request_id)
            _pending(row)
            return self._decide(conn, row, RequestStatus.WITHDRAWN, None, None)

        return run_transaction(self._engine, work, write=True)

    def _decide(
        self,
        conn: Connection,
        row: Row[Any],
        status: RequestStatus,
        reason: str | None,
        expires_at: datetime | None,
    ) -> AccessRequest:
        by = _actor()
        values = {
            "status": status.value,
            "decided_at": q.now(),
            "decided_by": by,
            "decision_reason": reason,
            "grant_expires_at": expires_at,
        }
        conn.execute(update(access_requests).where(access_requests.c.id == row.id).values(**values))
        action = {
            RequestStatus.APPROVED: "access_request.approve",
            RequestStatus.DENIED: "access_request.deny",
            RequestStatus.WITHDRAWN: "access_request.withdraw",
        }[status]
        record_event(
            conn,
            action,
            "access_request",
            str(row.id),
            before={"status": row.status},
            after={**_summary(row), "status": status.value, "reason": reason, "grant_expires_at": expires_at},
        )
        _bump(conn)
        return _request(conn.execute(select(access_requests).where(access_requests.c.id == row.id)).one())
