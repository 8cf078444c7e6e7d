"""Serving groups of a home folder opened in this process (``--home``): `LocalGroups`."""

from __future__ import annotations

import getpass
from datetime import timedelta
from pathlib import Path

from berth.client.embedded.home import open_home
from berth.client.groups import JsonDict
from berth.wiring.workspace import Workspace

REPLICA_TTL = timedelta(seconds=5)


def open_local_groups(home: str | Path | None) -> LocalGroups:
    return LocalGroups(open_home(home))


class LocalGroups:
    """Assignments and replicas read and written straight in the home's database (its owner is the
    platform's administrator: changes are audited as ``local:<os user>``)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def overview(self) -> JsonDict:
        return {
            "assignments": [
                {"name": a.name, "kind": a.kind, "group": a.group} for a in self._ws.groups.assignments()
            ],
            "replicas": [
                {
                    "replica_id": r.replica_id,
                    "role": r.role.value,
                    "group": r.group,
                    "url": r.url,
                    "ready": sorted(r.ready),
                }
                for r in self._ws.groups.replicas(live_within=REPLICA_TTL)
            ],
        }

    def assign(self, name: str, group: str, *, reason: str = "") -> JsonDict:
        done = self._ws.groups.assign(name, group, actor=f"local:{getpass.getuser()}", reason=reason)
        return {"name": done.name, "kind": done.kind, "group": done.group}

    def close(self) -> None:
        self._ws.close()
