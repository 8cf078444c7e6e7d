"""Access requests over REST: ``/api/v1/access-requests`` and ``/api/v1/teams/{team}/access-requests``.

Who may do what, each declared with `requires` and decided by `berth.core.access.authorize`:

- ask (``POST /access-requests``): `DISCOVER` on the model or endpoint asked for (discoverable,
  or already known to the caller); anything else answers exactly as a missing name. The caller
  must be a member of the team it asks for (checked by the store, in its transaction).
- list one's own, or the requests to the teams one administers (``GET /access-requests``):
  `CONNECT`, the list filtered by `allowed(MANAGE)` on each owning team.
- a team's inbox (``GET /teams/{team}/access-requests``): `MANAGE` on the team.
- approve or deny (``POST /access-requests/{id}/approve|deny``): `MANAGE` on the owning team.
- withdraw (``POST /access-requests/{id}/withdraw``): the requester (`CONNECT`).

A request the caller neither made nor may decide answers exactly as a missing id
(404 ``access_request_not_found``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from berth.core.access import ANONYMOUS, Action, Principal, Resource, allowed
from berth.core.access_requests import MAX_REASON_CHARS, AccessRequest, RequestStatus, request_not_found
from berth.core.errors import BerthError, ErrorCode
from berth.core.moments import Moment
from berth.core.security import MAX_GRANT_DAYS
from berth.server.auth.permissions import Guard, request_guard, request_principal, requires, team_from_path
from berth.server.rest.route_calls import in_thread
from berth.storage.security_protocols import AccessRequestStore

MAX_ID: Final = 2**62
MAX_NAME: Final = 128


RequestId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


class RequestCreate(BaseModel):
    target: str = Field(max_length=MAX_NAME, description="the model or endpoint asked for")
    team: str = Field(max_length=MAX_NAME, description="the caller's team the access is for")
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS, description="why the team needs it")
    action: Literal["predict"] = "predict"


class Approval(BaseModel):
    reason: str = Field("", max_length=MAX_REASON_CHARS)
    expires_in_s: float | None = Field(
        None, gt=0, le=MAX_GRANT_DAYS * 86400, description="the grant expires this many seconds from now"
    )
    expires_at: Moment | None = Field(None, description="the grant expires then (ISO 8601 or Unix seconds)")


class Denial(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS, description="why (the requester reads it)")


class AccessRequestView(BaseModel):
    id: int
    resource_kind: str
    resource_name: str
    owner_team: str
    requester: str
    team: str
    action: str
    reason: str
    status: str = Field(description="pending, approved, denied or withdrawn")
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    grant_expires_at: datetime | None

    @classmethod
    def of(cls, found: AccessRequest) -> AccessRequestView:
        return cls(
            id=found.id,
            resource_kind=found.resource_kind,
            resource_name=found.resource_name,
            owner_team=found.owner_team,
            requester=found.requester,
            team=found.team,
            action=found.action,
            reason=found.reason,
            status=found.status.value,
            created_at=found.created_at,
            decided_at=found.decided_at,
            decided_by=found.decided_by,
            decision_reason=found.decision_reason,
            grant_expires_at=found.grant_expires_at,
        )


def _may_decide(caller: Principal, guard: Guard, owner_team: str) -> bool:
    return caller is ANONYMOUS or allowed(caller, Action.MANAGE, guard.team(owner_team))


def _path_id(request: Request) -> int:
    try:
        request_id = int(request.path_params["request_id"])
    except (KeyError, ValueError):
        raise BerthError(ErrorCode.INVALID_REQUEST, "an access request id is a whole number") from None
    if not 1 <= request_id <= MAX_ID:
        raise request_not_found(request_id)
    return request_id


def access_request_router(requests: AccessRequestStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["access requests"])
    call = in_thread

    async def asked_for(guard: Guard, request: Request) -> Resource:
        """The model or endpoint a new request names (its ``target``), with its visibility."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        target = body.get("target") if isinstance(body, dict) else None
        if not isinstance(target, str) or not target or len(target) > MAX_NAME:
            raise BerthError(ErrorCode.INVALID_REQUEST, "name the model or endpoint asked for: 'target'")
        return await call(requests.target, target)

    async def deciding_team(guard: Guard, request: Request) -> Resource:
        """The team owning what request ``{request_id}`` asks for; a request the caller neither
        made nor may decide is not found (the requester may see it, and is then refused)."""
        request_id = _path_id(request)
        found = await call(requests.get, request_id)
        caller = request_principal(request)
        if found.requester != caller.name and not _may_decide(caller, guard, found.owner_team):
            raise request_not_found(request_id)
        return guard.team(found.owner_team)

    async def visible(caller: Principal, guard: Guard, request_id: int) -> AccessRequest:
        found = await call(requests.get, request_id)
        if found.requester != caller.name and not _may_decide(caller, guard, found.owner_team):
            raise request_not_found(request_id)
        return found

    async def changed(request: Request) -> None:
        await request_guard(request).refresh()

    @router.post(
        "/access-requests",
        status_code=201,
        summary="Ask for access to another team's model or endpoint",
        dependencies=[requires(Action.DISCOVER, asked_for)],
    )
    async def create_request(body: RequestCreate, request: Request) -> AccessRequestView:
        caller = request_principal(request)
        created = await call(
            requests.create,
            caller,
            target=body.target,
            team=body.team,
            reason=body.reason,
            action=body.action,
        )
        await changed(request)
        return AccessRequestView.of(created)

    @router.get(
        "/access-requests",
        summary="The caller's own requests (mine), those to the teams it administers (inbox), or both",
    )
    async def list_requests(
        request: Request,
        caller: Annotated[Principal, requires(Action.CONNECT)],
        scope: Annotated[Literal["mine", "inbox", "all"], Query()] = "all",
        status: Annotated[Literal["pending", "approved", "denied", "withdrawn"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> list[AccessRequestView]:
        requester: str | None = caller.name
        owner_teams: list[str] | None = None
        if scope != "mine":
            if caller.admin:  # every team's inbox: every request
                requester = None
            else:
                guard = request_guard(request)
                owner_teams = [t for t in sorted(caller.roles) if _may_decide(caller, guard, t)]
                if scope == "inbox":
                    requester = None
                    if not owner_teams:
                        return []
        found = await call(
            requests.list_requests,
            requester=requester,
            owner_teams=owner_teams,
            status=RequestStatus(status) if status else None,
            limit=limit,
        )
        return [AccessRequestView.of(r) for r in found]

    @router.get(
        "/teams/{team}/access-requests",
        summary="The requests to a team (its admins' inbox), newest first",
        dependencies=[requires(Action.MANAGE, team_from_path)],
    )
    async def team_requests(
        team: str,
        status: Annotated[Literal["pending", "approved", "denied", "withdrawn"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> list[AccessRequestView]:
        found = await call(
            requests.list_requests,
            owner_teams=[team],
            status=RequestStatus(status) if status else None,
            limit=limit,
        )
        return [AccessRequestView.of(r) for r in found]

    @router.get(
        "/access-requests/{request_id}", summary="One access request (its requester, or its deciders)"
    )
    async def get_request(
        request_id: RequestId, request: Request, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> AccessRequestView:
        return AccessRequestView.of(await visible(caller, request_guard(request), request_id))

    @router.post(
        "/access-requests/{request_id}/approve",
        summary="Approve a request: its team may call the target (until the expiry given)",
        dependencies=[requires(Action.MANAGE, deciding_team)],
    )
    async def approve(
        request_id: RequestId, request: Request, body: Approval | None = None
    ) -> AccessRequestView:
        given = body or Approval()
        decided = await call(
            requests.approve,
            request_id,
            reason=given.reason,
            expires_in_s=given.expires_in_s,
            expires_at=given.expires_at,
        )
        await changed(request)
        return AccessRequestView.of(decided)

    @router.post(
        "/access-requests/{request_id}/deny",
        summary="Deny a request, saying why",
        dependencies=[requires(Action.MANAGE, deciding_team)],
    )
    async def deny(request_id: RequestId, body: Denial, request: Request) -> AccessRequestView:
        decided = await call(requests.deny, request_id, reason=body.reason)
        await changed(request)
        return AccessRequestView.of(decided)

    @router.post("/access-requests/{request_id}/withdraw", summary="Withdraw one's own pending request")
    async def withdraw(
        request_id: RequestId, request: Request, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> AccessRequestView:
        found = await visible(caller, request_guard(request), request_id)
        if found.requester != caller.name:
            raise BerthError(
                ErrorCode.FORBIDDEN,
                f"{caller.name!r} may not withdraw access request {request_id}: only its requester may",
                action="withdraw",
            )
        withdrawn = await call(requests.withdraw, request_id)
        await changed(request)
        return AccessRequestView.of(withdrawn)

    return router
