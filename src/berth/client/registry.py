"""The registry as the CLI and the SDK see it: embedded (a home folder) or remote (a server URL).

`LocalRegistry` (`berth.client.embedded.registry`) works on a workspace directly (SQLite + local
folder, or any configured database); `RemoteRegistry` talks to a running server's management API.
Both take the same calls and give back the same core entities, so every command works with
``--home`` or ``--url`` alike. This module loads neither the runtime nor the database: a push of a
model object loads the flavors to package it, on the first such push.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

import orjson

from berth.client.transport import Transport
from berth.client.views import alias_event_from_json, model_from_json, version_from_json
from berth.core.entities import AliasEvent, Model, PushRequest, Version
from berth.core.errors import BerthError, ErrorCode

if TYPE_CHECKING:
    from berth.client.embedded.registry import LocalRegistry
    from berth.runtime.flavors.catalog import FlavorCatalog


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.registry`) when a home is opened. mypy checks each call against both.
Registry: TypeAlias = "RemoteRegistry | LocalRegistry"


class RemoteRegistry:
    """The registry behind a running server's management API (``/api/v1``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 300.0,
        transport: Transport | None = None,
        token: str | None = None,
    ) -> None:
        self._http = transport or Transport(url, timeout=timeout, token=token)
        self._catalog: FlavorCatalog | None = None

    def push_object(self, obj: Any, request: PushRequest) -> Version:
        """Package the object here in its safe format (with the flavors, loaded by the first such
        push), then upload it like a file."""
        from berth.control.packaging import package_object
        from berth.runtime.flavors.catalog import FlavorCatalog

        if self._catalog is None:
            self._catalog = FlavorCatalog()
        with tempfile.TemporaryDirectory(prefix="berth-push-") as folder:
            packaged = package_object(self._catalog, obj, Path(folder))
            return self.push_file(packaged.path, request)

    def push_file(self, path: Path, request: PushRequest) -> Version:
        """Upload an artifact file; a pyfunc folder is zipped here first (the server takes files)."""
        if not path.exists():
            raise BerthError(ErrorCode.ARTIFACT_INVALID, f"no such file: {path}")
        if path.is_dir():
            from berth.runtime.flavors.archive import write_zip

            with tempfile.TemporaryDirectory(prefix="berth-push-") as folder:
                return self._upload(write_zip(path, Path(folder) / f"{path.name}.zip"), request)
        return self._upload(path, request)

    def _upload(self, path: Path, request: PushRequest) -> Version:
        metadata = _push_metadata(request)
        with path.open("rb") as artifact:
            body = self._http.json(
                "POST",
                f"/api/v1/models/{_q(request.name)}/versions",
                files={"artifact": (path.name, artifact, "application/octet-stream")},
                data={"metadata": orjson.dumps(metadata).decode()},
            )
        return version_from_json(body)

    def list_models(
        self, *, text: str | None = None, team: str | None = None, tags: Mapping[str, str] | None = None
    ) -> list[Model]:
        params: dict[str, Any] = {
            "text": text,
            "team": team,
            "tag": [f"{k}={v}" for k, v in (tags or {}).items()],
        }
        body = self._http.json("GET", "/api/v1/models", params={k: v for k, v in params.items() if v})
        return [model_from_json(m) for m in body]

    def get_model(self, name: str) -> Model:
        return model_from_json(self._http.json("GET", f"/api/v1/models/{_q(name)}"))

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Model:
        given = {"description": description, "tags": tags, "visibility": visibility, "contact": contact}
        body = {k: v for k, v in given.items() if v is not None}
        return model_from_json(self._http.json("PATCH", f"/api/v1/models/{_q(name)}", json=body))

    def list_versions(self, name: str) -> list[Version]:
        return [version_from_json(v) for v in self._http.json("GET", f"/api/v1/models/{_q(name)}/versions")]

    def get_version(self, name: str, ref: str | None) -> Version:
        if ref is None:
            model = self.get_model(name)
            ref = str(model.aliases.get("production", model.latest_version))
        return version_from_json(self._http.json("GET", f"/api/v1/models/{_q(name)}/versions/{_q(ref)}"))

    def update_metadata(self, name: str, number: int, update: Mapping[str, Any]) -> Version:
        body = self._http.json(
            "PATCH", f"/api/v1/models/{_q(name)}/versions/{number}/metadata", json=dict(update)
        )
        return version_from_json(body)

    def set_alias(
        self, name: str, alias: str, number: int, *, actor: str = "", reason: str = ""
    ) -> AliasEvent:
        body = self._http.json(
            "PUT",
            f"/api/v1/models/{_q(name)}/aliases/{_q(alias)}",
            json={"version": number, "actor": actor, "reason": reason},
        )
        return alias_event_from_json(body)

    def delete_alias(self, name: str, alias: str, *, actor: str = "", reason: str = "") -> AliasEvent:
        body = self._http.json(
            "DELETE",
            f"/api/v1/models/{_q(name)}/aliases/{_q(alias)}",
            params={"actor": actor, "reason": reason},
        )
        return alias_event_from_json(body)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        path = f"/api/v1/models/{_q(name)}/" + (f"aliases/{_q(alias)}/history" if alias else "history")
        return [alias_event_from_json(e) for e in self._http.json("GET", path)]

    def put_profile(self, name: str, number: int, profile: Mapping[str, Any]) -> None:
        self._http.json("PUT", f"/api/v1/models/{_q(name)}/versions/{number}/profile", json=dict(profile))

    def get_profile(self, name: str, number: int) -> dict[str, Any]:
        body: dict[str, Any] = self._http.json("GET", f"/api/v1/models/{_q(name)}/versions/{number}/profile")
        return body

    def download_artifact(self, version: Version, out: Path) -> Path:
        """Write `version`'s artifact to the file `out` (the caller checks its sha256)."""
        self._http.download(f"/api/v1/models/{_q(version.model)}/versions/{version.number}/artifact", out)
        return out

    def close(self) -> None:
        self._http.close()


def _q(part: str) -> str:
    return quote(part, safe="")


def _push_metadata(request: PushRequest) -> dict[str, Any]:
    meta = request.metadata
    example = None
    if request.input_example is not None:
        from berth.control.examples import example_as_request  # numpy and pandas, for an example only

        example = example_as_request(request.input_example)
    return {
        "team": request.team,
        "description": request.description,
        "aliases": list(request.aliases),
        "trust_pickle": request.trusted,
        "signature": request.signature.to_dict() if request.signature else None,
        "input_example": example,
        "pushed_by": request.pushed_by,
        "source": request.source,
        "batching": request.batching,
        "metrics": dict(meta.metrics),
        "params": dict(meta.params),
        "feature_importance": dict(meta.feature_importance),
        "docs": meta.docs,
        "training_data": meta.training_data,
        "tags": dict(meta.tags),
        **({"card": dict(meta.card)} if meta.card is not None else {}),
        **({"visibility": request.visibility} if request.visibility is not None else {}),
        **({"contact": request.contact} if request.contact is not None else {}),
    }
