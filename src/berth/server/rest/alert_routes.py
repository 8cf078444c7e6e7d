"""Alert rules and the alert log: ``/api/v1/alerts/rules``, ``/api/v1/alerts/events``.

A rule belongs to its target's team: maintainers of the endpoint (or model) create, change and
delete its rules; readers see them (never their webhook secret, and the webhook URL without
credentials) and the alerts they fired, with a generic delivery status (never the error).
A webhook's signing secret is chosen by berth and answered once: to the maintainer who gives the
rule its webhook, and to one who rotates it. Webhook URLs naming an internal host are refused here
(`DestinationPolicy.check_url`); every call is checked again on the addresses it resolves to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from berth.control.alerts.destinations import DestinationPolicy, DestinationRefused
from berth.control.alerts.rules import AlertRule
from berth.core.access import ANONYMOUS, Action, Principal, Resource, allowed
from berth.core.errors import BerthError, ErrorCode
from berth.core.record_requests import parse_time
from berth.server.auth.permissions import request_guard, requires
from berth.server.rest.route_calls import in_thread
from berth.storage.sql_alerts import SqlAlertStore, StoredRule

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
    409: {"description": "conflict"},
}
ServedViews = Callable[[str], Mapping[str, tuple[str, tuple[str, ...]]]]
"""The feature views an endpoint serves: name -> (its team, the features served)."""
RuleBody = Annotated[dict[str, Any], Body(description="An alert rule (docs/monitoring.md)")]


def alert_router(
    store: SqlAlertStore, destinations: DestinationPolicy, served_views: ServedViews | None = None
) -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=_ERRORS)

    def check_destination(rule: AlertRule) -> None:
        if rule.webhook_url:
            try:
                destinations.check_url(rule.webhook_url)
            except DestinationRefused as refused:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST,
                    f"invalid alert rule: webhook_url: {refused}; webhooks reach public addresses "
                    "(an operator opens internal receivers with BERTH_WEBHOOK_ALLOW)",
                ) from None

    async def check_selector(caller: Principal, rule: AlertRule) -> None:
        """A rule on one view names a view its target serves that the caller may read (another
        team's view answers like a missing one), and a feature of it the target serves."""
        if rule.view is None:
            return
        served = {} if served_views is None else await in_thread(served_views, rule.target)
        readable = {
            name: features
            for name, (team, features) in served.items()
            if caller is ANONYMOUS
            or caller.admin
            or allowed(caller, Action.READ, Resource.entity_table(name, team))
        }
        rule.check_served(readable)

    async def check(request: Request, caller: Principal, action: Action, target: str) -> None:
        if caller is not ANONYMOUS:
            guard = request_guard(request)
            await guard.authorize(caller, action, await guard.model(target))

    @router.get("/rules", summary="The alert rules the caller may read, with their state")
    async def list_rules(
        request: Request,
        caller: Annotated[Principal, requires(Action.CONNECT)],
        target: Annotated[str | None, Query(max_length=128)] = None,
    ) -> dict[str, Any]:
        guard = request_guard(request)
        rules = await in_thread(store.list_rules, target)
        return {"rules": [_view(r) for r in rules if await guard.may(caller, Action.READ, r.spec["target"])]}

    @router.post("/rules", status_code=201, summary="Create an alert rule")
    async def create_rule(
        request: Request, body: RuleBody, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        rule = AlertRule.from_request(body)
        await check(request, caller, Action.ENDPOINT, rule.target)
        await check_selector(caller, rule)
        check_destination(rule)
        stored = await in_thread(store.create_rule, rule.to_json(with_secret=True))
        return _view(stored) | _once(rule.secret)

    @router.get("/rules/{name}", summary="One alert rule and its state")
    async def get_rule(
        request: Request, name: str, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        stored = await readable_rule(request, store, caller, name)
        return _view(stored)

    @router.put("/rules/{name}", summary="Change an alert rule (fields given are replaced)")
    async def update_rule(
        request: Request, name: str, body: RuleBody, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        stored = await readable_rule(request, store, caller, name)
        await check(request, caller, Action.ENDPOINT, stored.spec["target"])
        before = AlertRule.from_json(stored.spec)
        rule = before.with_updates(body)
        await check(request, caller, Action.ENDPOINT, rule.target)
        await check_selector(caller, rule)
        check_destination(rule)
        replaced = await in_thread(store.replace_rule, rule.to_json(with_secret=True))
        return _view(replaced) | (_once(rule.secret) if rule.secret != before.secret else {})

    @router.post(
        "/rules/{name}/rotate-secret",
        summary="Give the rule's webhook a new signing secret (answered once; the old one stops signing)",
    )
    async def rotate_secret(
        request: Request, name: str, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        stored = await readable_rule(request, store, caller, name)
        await check(request, caller, Action.ENDPOINT, stored.spec["target"])
        rule = AlertRule.from_json(stored.spec).with_rotated_secret()
        replaced = await in_thread(store.replace_rule, rule.to_json(with_secret=True))
        return _view(replaced) | _once(rule.secret)

    @router.delete("/rules/{name}", summary="Delete an alert rule (its log stays)")
    async def delete_rule(
        request: Request, name: str, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        stored = await readable_rule(request, store, caller, name)
        await check(request, caller, Action.ENDPOINT, stored.spec["target"])
        await in_thread(store.delete_rule, name)
        return {"deleted": name}

    @router.get("/events", summary="The alert log: fired and resolved alerts, newest first")
    async def list_events(
        request: Request,
        caller: Annotated[Principal, requires(Action.CONNECT)],
        target: Annotated[str | None, Query(max_length=128)] = None,
        rule: Annotated[str | None, Query(max_length=64)] = None,
        start: str | None = None,
        end: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        guard = request_guard(request)
        events = await in_thread(
            lambda: store.events(
                target=target,
                rule=rule,
                start=parse_time("start", start),
                end=parse_time("end", end),
                limit=limit,
            )
        )
        visible = [e for e in events if await guard.may(caller, Action.READ, e.target)]
        return {"events": [e.to_json() for e in visible]}

    return router


async def readable_rule(request: Request, store: SqlAlertStore, caller: Principal, name: str) -> StoredRule:
    """The rule `name` when `caller` may read it (`authorize`: READ on its target); ALERT_NOT_FOUND
    when it does not exist or the caller may not see it (the same answer)."""
    stored = await in_thread(store.get_rule, name)
    if not await request_guard(request).may(caller, Action.READ, stored.spec["target"]):
        raise BerthError(ErrorCode.ALERT_NOT_FOUND, f"no alert rule {name!r}", rule=name)
    return stored


def _once(secret: str) -> dict[str, str]:
    """The signing secret, in the one answer that creates or rotates it."""
    return {"secret": secret} if secret else {}


def _view(stored: StoredRule) -> dict[str, Any]:
    rule = AlertRule.from_json(stored.spec)
    return rule.to_json() | {
        "id": stored.uid,
        "state": stored.state,
        "last_value": stored.last_value,
        "evaluated_at": None if stored.evaluated_at is None else stored.evaluated_at.isoformat(),
        "state_changed_at": None if stored.state_changed_at is None else stored.state_changed_at.isoformat(),
    }
