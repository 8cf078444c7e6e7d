"""Bodies of the management API (pydantic: documented in OpenAPI, validated at the boundary)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from berth.core.entities import AliasEvent, Model, Version

_NAME = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


_VISIBILITY = Field(None, description="private (its team only) or discoverable (every team's catalog)")
_CONTACT = Field(None, max_length=1_000, description="who to ask about the model (shown in the catalog)")


class ModelCreate(_Body):
    name: str = _NAME
    team: str = Field("default", min_length=1, max_length=128)
    description: str = Field("", max_length=10_000)
    tags: dict[str, str] = Field(default_factory=dict)
    visibility: Literal["private", "discoverable"] | None = _VISIBILITY
    contact: str | None = _CONTACT


class ModelUpdate(_Body):
    team: str | None = Field(None, min_length=1, max_length=128)
    description: str | None = Field(None, max_length=10_000)
    tags: dict[str, str] | None = None
    visibility: Literal["private", "discoverable"] | None = _VISIBILITY
    contact: str | None = _CONTACT


def _finite(values: dict[str, float] | None) -> dict[str, float] | None:
    if values is not None:
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"values must be finite numbers: {bad}")
    return values


class VersionMetadataUpdate(_Body):
    metrics: dict[str, float] | None = None
    params: dict[str, Any] | None = None
    feature_importance: dict[str, float] | None = None
    docs: str | None = Field(None, max_length=1_000_000)
    training_data: str | None = Field(None, max_length=10_000)
    tags: dict[str, str] | None = None
    card: dict[str, Any] | None = Field(
        None, description="The model card: section -> Markdown text (docs/catalog.md); {} removes it."
    )

    _check_metrics = field_validator("metrics", "feature_importance")(_finite)


class PushMetadata(VersionMetadataUpdate):
    """The ``metadata`` form field of an upload: what a push says besides the artifact."""

    team: str = Field("default", min_length=1, max_length=128)
    description: str = Field("", max_length=10_000)
    aliases: list[str] = Field(default_factory=list)
    trust_pickle: bool = Field(False, description="Allow an artifact that loading must unpickle or run.")
    signature: dict[str, Any] | None = None
    input_example: dict[str, Any] | None = Field(
        None, description="An OIP request body standing for the input."
    )
    pushed_by: str = Field("", max_length=256)
    source: str = Field("", max_length=1024)
    batching: dict[str, Any] | None = Field(
        None, description="This version's batching: enabled, max_batch_size, max_latency_ms."
    )
    visibility: Literal["private", "discoverable"] | None = _VISIBILITY
    contact: str | None = _CONTACT


class AliasSet(_Body):
    version: int = Field(ge=1)
    actor: str = Field("", max_length=256)
    reason: str = Field("", max_length=1024)


class ModelView(BaseModel):
    name: str
    team: str
    description: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    latest_version: int | None
    aliases: dict[str, int]
    visibility: str
    contact: str
    task: str

    @classmethod
    def of(cls, model: Model) -> ModelView:
        return cls(
            name=model.name,
            team=model.team,
            description=model.description,
            tags=dict(model.tags),
            created_at=model.created_at,
            updated_at=model.updated_at,
            latest_version=model.latest_version,
            aliases=dict(model.aliases),
            visibility=model.visibility,
            contact=model.contact,
            task=model.task,
        )


class ArtifactView(BaseModel):
    sha256: str
    size: int
    filename: str


class VersionView(BaseModel):
    model: str
    version: int
    flavor: str
    artifact: ArtifactView
    signature: dict[str, Any]
    input_example: dict[str, Any] | None
    metrics: dict[str, float]
    params: dict[str, Any]
    feature_importance: dict[str, float]
    docs: str
    training_data: str
    tags: dict[str, str]
    card: dict[str, str] | None
    trusted: bool
    pushed_by: str
    source: str
    created_at: datetime
    aliases: list[str]
    classes: list[Any] | None = Field(
        None, description="a classifier's classes (its predict_proba columns, in order); null when none"
    )

    @classmethod
    def of(cls, version: Version) -> VersionView:
        meta = version.metadata
        return cls(
            model=version.model,
            version=version.number,
            flavor=version.flavor,
            artifact=ArtifactView(
                sha256=version.artifact.sha256, size=version.artifact.size, filename=version.artifact.filename
            ),
            signature=version.signature.to_dict(),
            input_example=version.input_example,
            metrics=dict(meta.metrics),
            params=dict(meta.params),
            feature_importance=dict(meta.feature_importance),
            docs=meta.docs,
            training_data=meta.training_data,
            tags=dict(meta.tags),
            card=None if meta.card is None else dict(meta.card),
            trusted=version.trusted,
            pushed_by=version.pushed_by,
            source=version.source,
            created_at=version.created_at,
            aliases=list(version.aliases),
            classes=version.classes,
        )


class AliasEventView(BaseModel):
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    at: datetime

    @classmethod
    def of(cls, event: AliasEvent) -> AliasEventView:
        return cls(
            model=event.model,
            alias=event.alias,
            from_version=event.from_version,
            to_version=event.to_version,
            actor=event.actor,
            reason=event.reason,
            at=event.at,
        )
