"""The management API (``/api/v1``): models, versions, aliases, metadata, and what this server serves.

Registry calls block on the database, so they run in the thread pool; after a change, the
server reconciles at once, so a push or an alias move through this API is served on the next
request (other servers see it within their poll interval).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from berth.control.examples import request_as_example
from berth.control.publishing import Publisher
from berth.core.access import ANONYMOUS, Action, Principal, authorize
from berth.core.entities import PushRequest, VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_cards import checked_card
from berth.core.signature import Signature
from berth.runtime.pool import ModelPool
from berth.runtime.reconciler import Reconciler
from berth.server.auth.permissions import model_from_path, push_target, request_guard, requires, team_in_body
from berth.server.rest.body import too_large
from berth.server.rest.route_calls import in_thread, serve_change
from berth.server.rest.schemas import (
    AliasEventView,
    AliasSet,
    ModelCreate,
    ModelUpdate,
    ModelView,
    PushMetadata,
    VersionMetadataUpdate,
    VersionView,
)
from berth.storage.protocols import ArtifactStore, RegistryStore

T = TypeVar("T")
_TAG = re.compile(r"^([^=]+)=(.*)$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
}


def _parse_tags(tags: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for tag in tags:
        match = _TAG.match(tag)
        if match is None:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"a tag filter is key=value, got {tag!r}")
        parsed[match.group(1)] = match.group(2)
    return parsed


def _safe_suffix(filename: str | None, suffixes: Sequence[str]) -> str:
    """The first of `suffixes` the upload's file name ends with (the only part of the name kept)."""
    name = (filename or "").lower()
    return next((s for s in suffixes if name.endswith(s)), "")


def management_router(
    store: RegistryStore,
    publisher: Publisher,
    artifacts: ArtifactStore,
    reconciler: Reconciler,
    pool: ModelPool,
    *,
    max_upload_bytes: int,
    upload_suffixes: Sequence[str],
) -> APIRouter:
    """`upload_suffixes`: the file suffixes an upload keeps, longest first (the installed flavors'
    own, `FlavorCatalog.file_suffixes`)."""
    router = APIRouter(prefix="/api/v1", tags=["management"], responses=_ERRORS)

    call = in_thread

    async def changed(request: Request | None = None) -> None:
        await serve_change(reconciler, request)

    # -- models -------------------------------------------------------------------------------
    @router.get("/models", summary="List and search models (those the caller may read)")
    async def list_models(
        caller: Annotated[Principal, requires(Action.CONNECT)],
        text: Annotated[str | None, Query(max_length=200, description="in name or description")] = None,
        team: Annotated[str | None, Query(max_length=128)] = None,
        tag: Annotated[list[str], Query(description="key=value; every one must match")] = [],  # noqa: B006
        flavor: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[ModelView]:
        models = await call(
            store.list_models,
            text=text,
            team=team,
            tags=_parse_tags(tag),
            flavor=flavor,
            limit=limit,
            offset=offset,
            teams=None if caller.admin else set(caller.roles),
        )
        return [ModelView.of(m) for m in models]

    @router.post(
        "/models",
        status_code=201,
        summary="Create a model (pushing a version creates it too)",
        dependencies=[requires(Action.PUSH, team_in_body)],
    )
    async def create_model(body: ModelCreate, request: Request) -> ModelView:
        model = await call(
            store.create_model,
            body.name,
            team=body.team,
            description=body.description,
            tags=body.tags,
            visibility=body.visibility,
            contact=body.contact,
        )
        await changed(request)
        return ModelView.of(model)

    @router.get(
        "/models/{name}",
        summary="A model, with its latest version and aliases",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def get_model(name: str) -> ModelView:
        return ModelView.of(await call(store.get_model, name))

    @router.patch("/models/{name}", summary="Change a model's team, description, tags, visibility or contact")
    async def update_model(
        name: str,
        body: ModelUpdate,
        request: Request,
        caller: Annotated[Principal, requires(Action.UPDATE, model_from_path)],
    ) -> ModelView:
        if body.team is not None:  # moving a model: the caller must be able to push into the new team
            authorize(caller, Action.PUSH, request_guard(request).team(body.team))
        model = await call(
            store.update_model,
            name,
            team=body.team,
            description=body.description,
            tags=body.tags,
            visibility=body.visibility,
            contact=body.contact,
        )
        await changed(request)
        return ModelView.of(model)

    # -- versions -----------------------------------------------------------------------------
    @router.get(
        "/models/{name}/versions",
        summary="Every version of a model, oldest first",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def list_versions(name: str) -> list[VersionView]:
        return [VersionView.of(v) for v in await call(store.list_versions, name)]

    @router.post(
        "/models/{name}/versions",
        status_code=201,
        summary="Push a new version: the artifact file and a JSON metadata field",
        openapi_extra=_PUSH_BODY,
        dependencies=[Depends(_closing_form)],  # first: its exit runs whatever the others do
    )
    async def push_version(
        name: str, request: Request, caller: Annotated[Principal, requires(Action.PUSH, push_target)]
    ) -> VersionView:
        # The form is read here, once the caller is authorized (a File/Form parameter would make
        # FastAPI spool the whole upload before any dependency runs); its size is capped while it
        # streams in (berth.server.rest.body_limit).
        artifact, metadata = await _push_form(request)
        meta = _push_metadata(metadata)
        # the team this push is authorized for: the store appends the version only to a model of
        # that team, checked in the transaction that appends it (a model created or moved meanwhile
        # by another team is not found)
        target = await push_target(request_guard(request), request)
        if caller is not ANONYMOUS:
            authorize(caller, Action.PUSH, target)
        if meta.trust_pickle:  # the trust that lets a pickle or code run: a maintainer's, and audited
            authorize(caller, Action.TRUST, target)
        push = PushRequest(
            name=name,
            team=meta.team,
            expected_team=None if caller is ANONYMOUS else target.team,  # auth off: no team boundary
            description=meta.description,
            metadata=VersionMetadata().merged(
                meta.model_dump(include=set(VersionMetadataUpdate.model_fields), exclude_none=True)
            ),
            signature=Signature.from_dict(meta.signature) if meta.signature else None,
            input_example=request_as_example(meta.input_example) if meta.input_example else None,
            aliases=tuple(meta.aliases),
            trusted=meta.trust_pickle,
            pushed_by=caller.name if caller.authenticated else meta.pushed_by,
            source=meta.source,
            batching=meta.batching,
            visibility=meta.visibility,
            contact=meta.contact,
        )
        with tempfile.TemporaryDirectory(prefix="berth-upload-") as folder:
            path = Path(folder) / f"artifact{_safe_suffix(artifact.filename, upload_suffixes)}"
            await call(_copy_upload, artifact, path, max_upload_bytes)
            version = await call(publisher.push_file, path, push)
        await changed(request)
        return VersionView.of(version)

    @router.get(
        "/models/{name}/versions/{ref}",
        summary="A version by number, alias or 'latest'",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def get_version(name: str, ref: str) -> VersionView:
        return VersionView.of(await call(store.resolve, name, ref))

    @router.patch(
        "/models/{name}/versions/{number}/metadata",
        summary="Update a version's metadata",
        dependencies=[requires(Action.UPDATE, model_from_path)],
    )
    async def update_metadata(name: str, number: int, body: VersionMetadataUpdate) -> VersionView:
        update = body.model_dump(exclude_none=True)
        version = await call(store.update_version_metadata, name, number, update)
        await changed()
        return VersionView.of(version)

    @router.get(
        "/models/{name}/versions/{number}/artifact",
        summary="Download a version's artifact (verified against its sha256)",
        response_class=FileResponse,
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def download_artifact(name: str, number: int) -> FileResponse:
        version = await call(store.get_version, name, number)
        path = await call(artifacts.fetch, version.artifact)
        return FileResponse(
            path,
            filename=version.artifact.filename or f"{name}-{number}",
            headers={"x-berth-sha256": version.artifact.sha256},
        )

    # -- aliases ------------------------------------------------------------------------------
    @router.get(
        "/models/{name}/aliases",
        summary="A model's aliases: alias -> version",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def list_aliases(name: str) -> dict[str, int]:
        return dict((await call(store.get_model, name)).aliases)

    @router.put("/models/{name}/aliases/{alias}", summary="Point an alias at a version (creates or moves it)")
    async def set_alias(
        name: str,
        alias: str,
        body: AliasSet,
        caller: Annotated[Principal, requires(Action.ALIAS, model_from_path)],
    ) -> AliasEventView:
        actor = caller.name if caller.authenticated else body.actor
        event = await call(store.set_alias, name, alias, body.version, actor=actor, reason=body.reason)
        await changed()
        return AliasEventView.of(event)

    @router.delete("/models/{name}/aliases/{alias}", summary="Remove an alias")
    async def delete_alias(
        name: str,
        alias: str,
        caller: Annotated[Principal, requires(Action.ALIAS, model_from_path)],
        actor: str = "",
        reason: str = "",
    ) -> AliasEventView:
        actor = caller.name if caller.authenticated else actor
        event = await call(store.delete_alias, name, alias, actor=actor, reason=reason)
        await changed()
        return AliasEventView.of(event)

    @router.get(
        "/models/{name}/aliases/{alias}/history",
        summary="Every move of one alias, oldest first",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def alias_history(name: str, alias: str) -> list[AliasEventView]:
        return [AliasEventView.of(e) for e in await call(store.alias_history, name, alias)]

    @router.get(
        "/models/{name}/history",
        summary="Every move of every alias of a model, oldest first",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def model_history(name: str) -> list[AliasEventView]:
        return [AliasEventView.of(e) for e in await call(store.alias_history, name, None)]

    # -- serving state ------------------------------------------------------------------------
    @router.get(
        "/serving",
        summary="What the answering worker routes to and what it has loaded (platform admins)",
        dependencies=[requires(Action.ADMIN)],
    )
    async def serving() -> dict[str, Any]:
        table = reconciler.table
        return {
            "worker": os.getpid(),  # with --workers N, each worker answers with its own table
            "generation": table.generation,
            "endpoints": sorted(table.endpoints),
            "models": {
                name: {"aliases": dict(r.aliases), "latest": r.latest, "default": r.default_target()}
                for name, r in table.models.items()
            },
            "loaded": pool.describe(),
        }

    return router


_PUSH_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["artifact"],
                    "properties": {
                        "artifact": {
                            "type": "string",
                            "format": "binary",
                            "description": "the model file (.skops, .onnx, .ubj, .txt, .zip …)",
                        },
                        "metadata": {"type": "string", "description": "JSON: see PushMetadata"},
                    },
                }
            }
        },
    }
}


async def _closing_form(request: Request) -> AsyncIterator[None]:
    """Close the request's multipart form (its spooled files) when the request ends, however it
    ends: the form is parsed by hand, so FastAPI does not close it."""
    try:
        yield
    finally:
        await request.close()


async def _push_form(request: Request) -> tuple[UploadFile, str]:
    """The push's artifact file and its metadata text (``"{}"`` when absent)."""
    form = await request.form(max_files=1, max_fields=8)
    artifact = form.get("artifact")
    if not isinstance(artifact, UploadFile):
        raise BerthError(
            ErrorCode.INVALID_REQUEST, "the multipart field 'artifact' (the model file) is missing"
        )
    metadata = form.get("metadata", "{}")
    if not isinstance(metadata, str):
        raise BerthError(ErrorCode.INVALID_REQUEST, "the multipart field 'metadata' must be text (JSON)")
    return artifact, metadata


def _push_metadata(raw: str) -> PushMetadata:
    """The push's metadata, checked (a bad card is refused before the artifact is packaged)."""
    try:
        meta = PushMetadata.model_validate(orjson.loads(raw or "{}"))
    except orjson.JSONDecodeError as exc:
        raise BerthError(ErrorCode.INVALID_JSON, f"metadata is not JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BerthError(ErrorCode.INVALID_REQUEST, f"metadata.{where}: {first.get('msg')}") from None
    if meta.card is not None:
        meta.card = checked_card(meta.card)
    return meta


def _copy_upload(upload: UploadFile, path: Path, limit: int) -> None:
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            out.write(chunk)
