"""The registry of a home folder opened in this process (``--home``): `LocalRegistry`."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.core.entities import AliasEvent, Model, PushRequest, Version
from berth.wiring.workspace import Workspace


def open_local_registry(home: str | Path | None) -> LocalRegistry:
    return LocalRegistry(open_home(home))


class LocalRegistry:
    """The registry of a workspace opened in this process."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def push_object(self, obj: Any, request: PushRequest) -> Version:
        return self._ws.publisher.push_object(obj, request)

    def push_file(self, path: Path, request: PushRequest) -> Version:
        return self._ws.publisher.push_file(path, request)

    def list_models(
        self, *, text: str | None = None, team: str | None = None, tags: Mapping[str, str] | None = None
    ) -> list[Model]:
        return self._ws.store.list_models(text=text, team=team, tags=tags)

    def get_model(self, name: str) -> Model:
        return self._ws.store.get_model(name)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Model:
        return self._ws.store.update_model(
            name, description=description, tags=tags, visibility=visibility, contact=contact
        )

    def list_versions(self, name: str) -> list[Version]:
        return self._ws.store.list_versions(name)

    def get_version(self, name: str, ref: str | None) -> Version:
        return self._ws.store.resolve(name, ref)

    def update_metadata(self, name: str, number: int, update: Mapping[str, Any]) -> Version:
        return self._ws.store.update_version_metadata(name, number, update)

    def set_alias(
        self, name: str, alias: str, number: int, *, actor: str = "", reason: str = ""
    ) -> AliasEvent:
        return self._ws.store.set_alias(name, alias, number, actor=actor, reason=reason)

    def delete_alias(self, name: str, alias: str, *, actor: str = "", reason: str = "") -> AliasEvent:
        return self._ws.store.delete_alias(name, alias, actor=actor, reason=reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        return self._ws.store.alias_history(name, alias)

    def put_profile(self, name: str, number: int, profile: Mapping[str, Any]) -> None:
        self._ws.profiles.put_profile(name, number, profile)

    def get_profile(self, name: str, number: int) -> dict[str, Any]:
        return self._ws.profiles.get_profile(name, number)

    def download_artifact(self, version: Version, out: Path) -> Path:
        shutil.copyfile(self._ws.artifacts.fetch(version.artifact), out)  # fetch verifies the sha256
        return out

    def close(self) -> None:
        self._ws.close()
