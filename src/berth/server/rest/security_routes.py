"""Access control and the audit trail over REST: ``/api/v1/teams``, ``/grants``, ``/tokens``, ``/audit``.

Who may call what: creating teams, making platform admins and reading the audit trail take a
platform admin; a team's members and the grants of its endpoints take that team's admin; anyone
authenticated lists teams and creates, lists and revokes their own tokens. Every change is
recorded in the audit trail by the store, in the change's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool

from berth.core.access import SERVER, Action, Principal, Role, authorize
from berth.core.audit import AuditEvent, AuditQuery
from berth.core.errors import BerthError, ErrorCode
from berth.core.moments import Moment
from berth.core.security import MAX_GRANT_DAYS, ApiToken, EndpointGrant, Membership, Team, token_not_found
from berth.server.auth.permissions import (
    model_from_path,
    request_guard,
    requires,
    team_from_path,
)
from berth.server.rest.route_calls import in_thread
from berth.storage.security_protocols import AuditStore, SecurityStore

T = TypeVar("T")
MAX_UNIX = 253402300799.0
"""9999-12-31T23:59:59Z: the last moment a datetime holds."""
MAX_ID = 2**62
"""Ids are database integers: a larger one cannot exist (and would not fit a query)."""
AuditFilters = Annotated[str | None, Query(max_length=255)]


class TeamCreate(BaseModel):
    name: str = Field(max_length=128)
    description: str = Field("", max_length=10_000)


class TeamView(BaseModel):
    name: str
    description: str
    created_at: datetime

    @classmethod
    def of(cls, team: Team) -> TeamView:
        return cls(name=team.name, description=team.description, created_at=team.created_at)


class MemberSet(BaseModel):
    role: str = Field(description="reader, predictor, maintainer or admin", max_length=32)


class MemberView(BaseModel):
    team: str
    principal: str
    role: str

    @classmethod
    def of(cls, member: Membership) -> MemberView:
        return cls(team=member.team, principal=member.principal, role=member.role.label)


class GrantSet(BaseModel):
    expires_in_s: float | None = Field(
        None, gt=0, le=MAX_GRANT_DAYS * 86400, description="the grant expires this many seconds from now"
    )
    expires_at: Moment | None = Field(None, description="the grant expires then (ISO 8601 or Unix seconds)")


class GrantView(BaseModel):
    endpoint: str
    team: str
    granted_by: str
    at: datetime
    expires_at: datetime | None = Field(None, description="when it stops counting (null: never)")
    expired: bool = False

    @classmethod
    def of(cls, grant: EndpointGrant) -> GrantView:
        expired = grant.expires_at is not None and grant.expires_at <= datetime.now(UTC)
        return cls(
            endpoint=grant.endpoint,
            team=grant.team,
            granted_by=grant.granted_by,
            at=grant.at,
            expires_at=grant.expires_at,
            expired=expired,
        )


class TokenCreate(BaseModel):
    principal: str | None = Field(None, max_length=255, description="default: the caller")
    description: str = Field("", max_length=1000)
    expires_days: float = Field(90, gt=0, le=3650)
    admin: bool = Field(False, description="make the principal a platform admin (admins only)")


class TokenView(BaseModel):
    id: int
    principal: str
    prefix: str
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    created_by: str
    parent_id: int | None = Field(
        None, description="the token this one was created with: it expires and is revoked with it"
    )
    token: str | None = Field(None, description="the token itself: in the answer to its creation only")

    @classmethod
    def of(cls, token: ApiToken, secret: str | None = None) -> TokenView:
        return cls(
            id=token.id,
            principal=token.principal,
            prefix=token.prefix,
            description=token.description,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            created_by=token.created_by,
            parent_id=token.parent_id,
            token=secret,
        )


class AdminSet(BaseModel):
    admin: bool


def _audit_query(
    actor: str | None,
    action: str | None,
    resource_type: str | None,
    resource_name: str | None,
    since: datetime | None,
    until: datetime | None,
    after_id: int,
    limit: int,
) -> AuditQuery:
    return AuditQuery(actor, action, resource_type, resource_name, since, until, after_id, limit)


def minted_by(caller: Principal) -> dict[str, Any]:
    """What a token created by `caller` inherits from the credential `caller` presented: an API
    token is its parent (the new token never outlives it and is revoked with it); a JWT caps the
    new token's expiry at the JWT's ``exp`` (a JWT cannot be revoked here, so nothing more)."""
    expires = caller.credential_expires_at
    not_after = None if expires is None else datetime.fromtimestamp(min(expires, MAX_UNIX), UTC)
    return {"parent_id": caller.token_id, "not_after": not_after}


def visible_token(store: SecurityStore, caller: Principal, token_id: int) -> ApiToken:
    """Token `token_id` when `caller` may see it (its own; an admin: any); TOKEN_NOT_FOUND, the
    same answer as for a missing id, when not."""
    token = store.get_token(token_id)
    if token.principal != caller.name and not caller.admin:
        raise token_not_found(token_id)
    return token


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return event.as_dict()


def security_router(store: SecurityStore, audit: AuditStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["access control and audit"])

    call = in_thread

    async def changed(request: Request) -> None:
        await request_guard(request).refresh()

    # -- teams ------------------------------------------------------------------------------------
    @router.get("/teams", summary="Every team", dependencies=[requires(Action.CONNECT)])
    async def list_teams() -> list[TeamView]:
        return [TeamView.of(t) for t in await call(store.list_teams)]

    @router.post("/teams", status_code=201, summary="Create a team", dependencies=[requires(Action.ADMIN)])
    async def create_team(body: TeamCreate, request: Request) -> TeamView:
        team = await call(store.create_team, body.name, description=body.description)
        await changed(request)
        return TeamView.of(team)

    @router.get(
        "/teams/{team}/members",
        summary="A team's members and their roles",
        dependencies=[requires(Action.READ, team_from_path)],
    )
    async def list_members(team: str) -> list[MemberView]:
        return [MemberView.of(m) for m in await call(store.list_members, team)]

    @router.put(
        "/teams/{team}/members/{principal}",
        summary="Give a principal a role in a team (reader, predictor, maintainer, admin)",
        dependencies=[requires(Action.MANAGE, team_from_path)],
    )
    async def set_member(team: str, principal: str, body: MemberSet, request: Request) -> MemberView:
        member = await call(store.set_member, team, principal, Role.parse(body.role))
        await changed(request)
        return MemberView.of(member)

    @router.delete(
        "/teams/{team}/members/{principal}",
        status_code=204,
        summary="Remove a principal from a team",
        dependencies=[requires(Action.MANAGE, team_from_path)],
    )
    async def remove_member(team: str, principal: str, request: Request) -> None:
        await call(store.remove_member, team, principal)
        await changed(request)

    @router.put(
        "/principals/{principal}/admin",
        summary="Make a principal a platform admin, or not",
        dependencies=[requires(Action.ADMIN)],
    )
    async def set_admin(principal: str, body: AdminSet, request: Request) -> dict[str, Any]:
        await call(store.set_admin, principal, body.admin)
        await changed(request)
        return {"principal": principal, "admin": body.admin}

    # -- endpoint grants --------------------------------------------------------------------------
    @router.get(
        "/grants/{name}",
        summary="The teams granted predictor access to an endpoint (a model name)",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def list_grants(name: str) -> list[GrantView]:
        return [GrantView.of(g) for g in await call(store.list_grants, name)]

    @router.put(
        "/grants/{name}/{team}",
        summary="Let another team call this endpoint (predictor access to it alone), perhaps until a time",
        dependencies=[requires(Action.MANAGE, model_from_path)],
    )
    async def grant(name: str, team: str, request: Request, body: GrantSet | None = None) -> GrantView:
        given = body or GrantSet()
        granted = await call(
            store.grant_endpoint, name, team, expires_in_s=given.expires_in_s, expires_at=given.expires_at
        )
        await changed(request)
        return GrantView.of(granted)

    @router.delete(
        "/grants/{name}/{team}",
        status_code=204,
        summary="Withdraw a team's access to an endpoint",
        dependencies=[requires(Action.MANAGE, model_from_path)],
    )
    async def revoke_grant(name: str, team: str, request: Request) -> None:
        await call(store.revoke_grant, name, team)
        await changed(request)

    # -- tokens -----------------------------------------------------------------------------------
    @router.post("/tokens", status_code=201, summary="Create an API token (shown once, in this answer)")
    async def create_token(
        body: TokenCreate, request: Request, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> TokenView:
        owner = body.principal or (caller.name if caller.authenticated else None)
        if owner is None:
            raise BerthError(ErrorCode.INVALID_REQUEST, "name the token's principal")
        if owner != caller.name or body.admin:
            authorize(caller, Action.ADMIN, SERVER)
        issued = await call(
            store.create_token,
            owner,
            expires_days=body.expires_days,
            description=body.description,
            admin=body.admin,
            **minted_by(caller),
        )
        await changed(request)
        return TokenView.of(issued.token, issued.secret)

    @router.get("/tokens", summary="API tokens: the caller's own (an admin: anyone's, or all)")
    async def list_tokens(
        caller: Annotated[Principal, requires(Action.CONNECT)],
        principal: Annotated[str | None, Query(max_length=255)] = None,
    ) -> list[TokenView]:
        if caller.admin:
            return [TokenView.of(t) for t in await call(store.list_tokens, principal)]
        if principal is not None and principal != caller.name:
            authorize(caller, Action.ADMIN, SERVER)
        return [TokenView.of(t) for t in await call(store.list_tokens, caller.name)]

    @router.delete("/tokens/{token_id}", summary="Revoke a token (every server refuses it within a second)")
    async def revoke_token(
        token_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
        request: Request,
        caller: Annotated[Principal, requires(Action.CONNECT)],
    ) -> TokenView:
        await call(visible_token, store, caller, token_id)
        revoked = await call(store.revoke_token, token_id)
        await changed(request)
        return TokenView.of(revoked)

    # -- audit ------------------------------------------------------------------------------------

    @router.get("/audit", summary="The audit trail, oldest first", dependencies=[requires(Action.ADMIN)])
    async def audit_events(
        actor: AuditFilters = None,
        action: AuditFilters = None,
        resource_type: AuditFilters = None,
        resource_name: AuditFilters = None,
        since: Moment | None = None,
        until: Moment | None = None,
        after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[dict[str, Any]]:
        query = _audit_query(actor, action, resource_type, resource_name, since, until, after_id, limit)
        return [_event_json(e) for e in await call(audit.query, query)]

    @router.get(
        "/audit/export",
        summary="The audit trail as JSON lines or CSV",
        dependencies=[requires(Action.ADMIN)],
        response_class=StreamingResponse,
    )
    async def audit_export(
        format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl",
        actor: AuditFilters = None,
        action: AuditFilters = None,
        resource_type: AuditFilters = None,
        resource_name: AuditFilters = None,
        since: Moment | None = None,
        until: Moment | None = None,
    ) -> StreamingResponse:
        query = _audit_query(actor, action, resource_type, resource_name, since, until, 0, 10_000)
        chunks: Iterator[bytes] = audit.export(query, format)
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        return StreamingResponse(
            iterate_in_threadpool(chunks),
            media_type=media,
            headers={"content-disposition": f'attachment; filename="berth-audit.{format}"'},
        )

    return router
