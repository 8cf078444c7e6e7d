"""Serving groups as the CLI and the SDK see them (a server URL, or a home folder): which group
serves each model and endpoint, the live replicas, and moving a name to another group.

The embedded implementation (`berth.client.embedded.groups`) is imported only when a home is opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.groups import LocalGroups

JsonDict = dict[str, Any]


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.groups`) when a home is opened. mypy checks each call against both.
Groups: TypeAlias = "RemoteGroups | LocalGroups"


def open_groups(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Groups:
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteGroups(url, token=token)
    from berth.client.embedded.groups import open_local_groups

    return open_local_groups(home)


class RemoteGroups:
    def __init__(self, url: str, *, timeout: float = 60.0, token: str | None = None) -> None:
        self._http = Transport(url, timeout=timeout, token=token)

    def overview(self) -> JsonDict:
        body: JsonDict = self._http.json("GET", "/api/v1/groups")
        return body

    def assign(self, name: str, group: str, *, reason: str = "") -> JsonDict:
        body: JsonDict = self._http.json(
            "PUT",
            f"/api/v1/groups/assignments/{quote(name, safe='')}",
            json={"group": group, "reason": reason},
        )
        return body

    def close(self) -> None:
        self._http.close()
