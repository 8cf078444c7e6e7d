"""Team inboxes as the CLI and the SDK see them: remote (a server URL) or embedded (a home folder).
Both answer with the JSON views of the REST API (``/api/v1/teams/{team}/inbox``); the embedded one
(`berth.client.embedded.inbox`) is imported only when a home is opened.

    import berth
    inbox = berth.inbox(url="http://127.0.0.1:8080")
    page = inbox.list("cards", acknowledged=False)
    inbox.acknowledge("cards", page["messages"][0]["id"])
    inbox.reroute("cards", page["messages"][1]["id"], to="card-security", label="lost_or_stolen_card")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.inbox import LocalInbox

JsonDict = dict[str, Any]

# What both implementations take: the remote one here, the embedded one when a home is opened.
Inbox: TypeAlias = "RemoteInbox | LocalInbox"


def open_inbox(*, home: str | Path | None = None, url: str | None = None, token: str | None = None) -> Inbox:
    """The team inboxes of the server at `url` (called with `token`, default ``BERTH_TOKEN``), else
    of the embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteInbox(url, token=token)
    from berth.client.embedded.inbox import open_local_inbox

    return open_local_inbox(home)


class RemoteInbox:
    """Team inboxes behind a running server's API."""

    def __init__(self, url: str, *, timeout: float = 60.0, token: str | None = None) -> None:
        self._http = Transport(url, timeout=timeout, token=token)

    def list(
        self,
        team: str,
        *,
        status: str | None = None,
        acknowledged: bool | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> JsonDict:
        params: dict[str, str] = {"limit": str(limit)}
        if status is not None:
            params["status"] = status
        if acknowledged is not None:
            params["acknowledged"] = "true" if acknowledged else "false"
        if before is not None:
            params["before"] = str(before)
        body: JsonDict = self._http.json("GET", _path(team), params=params)
        return body

    def get(self, team: str, message_id: int) -> JsonDict:
        body: JsonDict = self._http.json("GET", _path(team, f"/{int(message_id)}"))
        return body

    def acknowledge(self, team: str, message_id: int) -> JsonDict:
        body: JsonDict = self._http.json("POST", _path(team, f"/{int(message_id)}/ack"))
        return body

    def reroute(self, team: str, message_id: int, *, to: str, label: str | None = None) -> JsonDict:
        payload = {"to": to} | ({"label": label} if label is not None else {})
        body: JsonDict = self._http.json("POST", _path(team, f"/{int(message_id)}/reroute"), json=payload)
        return body

    def settings(self, team: str) -> JsonDict:
        body: JsonDict = self._http.json("GET", _path(team, "/settings"))
        return body

    def set_settings(
        self,
        team: str,
        *,
        webhook_url: str | None = None,
        nats_subject: str | None = None,
        rotate_secret: bool = False,
    ) -> JsonDict:
        payload = {"webhook_url": webhook_url, "nats_subject": nats_subject, "rotate_secret": rotate_secret}
        body: JsonDict = self._http.json("PUT", _path(team, "/settings"), json=payload)
        return body

    def close(self) -> None:
        self._http.close()


def _path(team: str, suffix: str = "") -> str:
    return f"/api/v1/teams/{quote(team, safe='')}/inbox{suffix}"
