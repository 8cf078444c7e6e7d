"""Team inboxes of a home folder opened in this process (``--home``): `LocalInbox`.

It acts as the operating-system user who holds the database (as every embedded command does):
every team's inbox, changes recorded as ``local:<user>``. A webhook URL is held to the same
destination rule as on a server (``BERTH_WEBHOOK_ALLOW``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berth.client.embedded.home import home_settings
from berth.client.inbox import JsonDict
from berth.client.sdk import current_user
from berth.control.alerts.destinations import DestinationPolicy, DestinationRefused, WebhookAllowList
from berth.control.inbox_service import InboxService, settings_view
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import check_team_name
from berth.wiring.workspace import open_workspace


def open_local_inbox(home: str | Path | None) -> LocalInbox:
    settings = home_settings(home)
    workspace = open_workspace(settings)
    service = InboxService(workspace.inbox, workspace.records, workspace.inbox.team_exists)
    policy = DestinationPolicy(WebhookAllowList.parse(settings.webhook_allow))
    return LocalInbox(service, policy, workspace.close)


class LocalInbox:
    def __init__(self, service: InboxService, policy: DestinationPolicy, close: Any) -> None:
        self._service = service
        self._policy = policy
        self._close = close
        self._actor = f"local:{current_user()}"

    def _team(self, team: str) -> str:
        check_team_name(team)
        if not self._service.inbox.team_exists(team):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"team {team!r} does not exist", team=team)
        return team

    def list(
        self,
        team: str,
        *,
        status: str | None = None,
        acknowledged: bool | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> JsonDict:
        inbox = self._service.inbox
        messages = inbox.messages(
            self._team(team), status=status, acknowledged=acknowledged, before=before, limit=limit
        )
        return {
            "team": team,
            "messages": [m.to_json() for m in messages],
            "counts": inbox.counts(team),
            "next_before": messages[-1].id if len(messages) == limit else None,
        }

    def get(self, team: str, message_id: int) -> JsonDict:
        return self._service.inbox.get(self._team(team), int(message_id)).to_json()

    def acknowledge(self, team: str, message_id: int) -> JsonDict:
        return self._service.inbox.acknowledge(self._team(team), int(message_id), self._actor).to_json()

    def reroute(self, team: str, message_id: int, *, to: str, label: str | None = None) -> JsonDict:
        return self._service.reroute(self._team(team), int(message_id), to, label, self._actor)

    def settings(self, team: str) -> JsonDict:
        return settings_view(self._service.inbox.settings(self._team(team)))

    def set_settings(
        self,
        team: str,
        *,
        webhook_url: str | None = None,
        nats_subject: str | None = None,
        rotate_secret: bool = False,
    ) -> JsonDict:
        def check(url: str) -> None:
            try:
                self._policy.check_url(url)
            except DestinationRefused as refused:
                raise BerthError(ErrorCode.INVALID_REQUEST, f"webhook_url: {refused}") from None

        return self._service.put_settings(
            self._team(team),
            webhook_url=webhook_url,
            nats_subject=nats_subject,
            rotate_secret=rotate_secret,
            by=self._actor,
            check_destination=check,
        )

    def close(self) -> None:
        self._close()
