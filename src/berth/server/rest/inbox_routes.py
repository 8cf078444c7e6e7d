"""Team inboxes: ``/api/v1/teams/{team}/inbox``: the messages routed to a team, and its settings.

Who may do what (docs/endpoints.md, "Delivery to teams"): a team's readers list its messages and
see its settings; its predictors acknowledge (the role of those who act for the team); its
maintainers reroute a message to another team (a reroute sends feedback: a correction the
retraining uses, which needs the feedback right, here on the team that received the message); its
admins set where the messages go besides the inbox (MANAGE). Another team's principal is refused
on every route (403, as for any team it is not a member of); a message of another team looks
exactly like a missing one (404 message_not_found) from one's own team's path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from berth.control.alerts.destinations import DestinationPolicy, DestinationRefused
from berth.control.inbox_service import MAX_LABEL_LENGTH, InboxService, settings_view
from berth.core.access import Action, Principal
from berth.core.delivery import MAX_URL_LENGTH, STATUSES
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import MAX_TEAM_NAME_LENGTH
from berth.server.auth.permissions import request_guard, requires, team_from_path
from berth.server.rest.route_calls import in_thread

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    403: {"description": "not a member of the team with the role needed"},
    404: {"description": "no such message in the team's inbox"},
    409: {"description": "already rerouted"},
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RerouteBody(_Body):
    to: str = Field(min_length=1, max_length=MAX_TEAM_NAME_LENGTH, description="the team it belongs to")
    label: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_LABEL_LENGTH,
        description="the right answer of the model (the message's 'learns' column); default: the team",
    )


class SettingsBody(_Body):
    webhook_url: str | None = Field(None, max_length=MAX_URL_LENGTH, description="POSTed every message")
    nats_subject: str | None = Field(
        None,
        max_length=640,
        description="a name such as 'cards': each message is published to "
        "berth.inbox.<stream>.<name> (needs delivery_nats)",
    )
    rotate_secret: bool = Field(False, description="give the webhook a new signing secret")


def inbox_router(service: InboxService, destinations: DestinationPolicy) -> APIRouter:
    router = APIRouter(prefix="/api/v1/teams/{team}/inbox", tags=["inbox"], responses=_ERRORS)
    inbox = service.inbox

    async def existing(team: str) -> str:
        """`team`, once it exists (authorization finds that out too, except without authentication)."""
        if not await in_thread(inbox.team_exists, team):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"team {team!r} does not exist", team=team)
        return team

    @router.get("", summary="The team's messages, newest first")
    async def list_messages(
        team: str,
        caller: Annotated[Principal, requires(Action.READ, team_from_path)],
        status: Annotated[str | None, Query(description=f"one of {list(STATUSES)}")] = None,
        acknowledged: bool | None = None,
        before: Annotated[int | None, Query(ge=1, description="ids below this (the next page)")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        messages = await in_thread(
            inbox.messages,
            await existing(team),
            status=status,
            acknowledged=acknowledged,
            before=before,
            limit=limit,
        )
        counts = await in_thread(inbox.counts, team)
        return {
            "team": team,
            "messages": [m.to_json() for m in messages],
            "counts": counts,
            "next_before": messages[-1].id if len(messages) == limit else None,
        }

    @router.get("/settings", summary="Where the team's messages go besides the inbox")
    async def get_settings(
        team: str, caller: Annotated[Principal, requires(Action.READ, team_from_path)]
    ) -> dict[str, Any]:
        return settings_view(await in_thread(inbox.settings, await existing(team)))

    @router.put(
        "/settings",
        summary="Set the team's webhook and/or NATS subject (a new webhook's secret is answered once)",
    )
    async def put_settings(
        team: str, body: SettingsBody, caller: Annotated[Principal, requires(Action.MANAGE, team_from_path)]
    ) -> dict[str, Any]:
        def check(url: str) -> None:
            try:
                destinations.check_url(url)
            except DestinationRefused as refused:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST,
                    f"webhook_url: {refused}; webhooks reach public addresses "
                    "(an operator opens internal receivers with BERTH_WEBHOOK_ALLOW)",
                ) from None

        await existing(team)
        return await in_thread(
            lambda: service.put_settings(
                team,
                webhook_url=body.webhook_url,
                nats_subject=body.nats_subject,
                rotate_secret=body.rotate_secret,
                by=caller.name,
                check_destination=check,
            )
        )

    @router.get("/{message_id}", summary="One message of the team")
    async def get_message(
        team: str, message_id: int, caller: Annotated[Principal, requires(Action.READ, team_from_path)]
    ) -> dict[str, Any]:
        return (await in_thread(inbox.get, await existing(team), message_id)).to_json()

    @router.post("/{message_id}/ack", summary="Acknowledge a message (idempotent)")
    async def acknowledge(
        team: str, message_id: int, caller: Annotated[Principal, requires(Action.PREDICT, team_from_path)]
    ) -> dict[str, Any]:
        return (await in_thread(inbox.acknowledge, await existing(team), message_id, caller.name)).to_json()

    @router.post(
        "/{message_id}/reroute",
        summary="Send a message to the team it belongs to; the right answer goes back as feedback",
    )
    async def reroute(
        request: Request,
        team: str,
        message_id: int,
        body: RerouteBody,
        caller: Annotated[Principal, requires(Action.FEEDBACK, team_from_path)],
    ) -> dict[str, Any]:
        if request_guard(request).team(body.to).team is None:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"team {body.to!r} does not exist", team=body.to)
        return await in_thread(
            service.reroute, await existing(team), message_id, body.to, body.label, caller.name
        )

    return router
