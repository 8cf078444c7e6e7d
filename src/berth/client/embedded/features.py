"""Feature views of a home folder opened in this process (``--home``): `LocalFeatures`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.client.features import JsonDict
from berth.wiring.workspace import Workspace

_STREAM_CHUNK = 1000


def open_local_features(home: str | Path | None) -> LocalFeatures:
    return LocalFeatures(open_home(home))


class LocalFeatures:
    """Feature views of a workspace opened in this process (who holds the database holds every
    right); servers on it see a change within their poll interval."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._service = workspace.features

    def create_view(self, spec: Mapping[str, Any], *, team: str = "default") -> JsonDict:
        return self._service.create(spec, team=team).describe()

    def views(self) -> list[JsonDict]:
        return [v.describe() for v in self._service.list()]

    def view(self, name: str) -> JsonDict:
        return self._service.get(name).describe()

    def update_view(self, name: str, changes: Mapping[str, Any]) -> JsonDict:
        return self._service.update(name, changes).describe()

    def delete_view(self, name: str) -> bool:
        self._service.get(name)
        return self._service.delete(name)

    def put(self, name: str, values: Mapping[str, Mapping[str, Any]]) -> int:
        return self._service.put(name, values)

    def stream(self, name: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        written, it = 0, iter(rows)
        while chunk := dict(islice(it, _STREAM_CHUNK)):
            written += self._service.put(name, chunk)
        return written

    def read(self, name: str, keys: Iterable[str]) -> JsonDict:
        found = asyncio.run(self._service.read(name, list(keys)))
        return {k: {"values": dict(r.values), "updated_at": r.updated_at} for k, r in found.items()}

    def close(self) -> None:
        self._service.close()
        self._ws.close()
