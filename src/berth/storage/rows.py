"""Mapping between registry rows and the core entities, and checks of what goes into a row."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import Row

from berth.core.entities import (
    AliasEvent,
    ArtifactRef,
    Model,
    NewVersion,
    Version,
    VersionMetadata,
    check_sha256,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_cards import checked_card
from berth.core.signature import Signature


def model_from_row(row: Row[Any], *, latest_version: int | None, aliases: Mapping[str, int]) -> Model:
    """A `Model` from a ``models`` row, with its newest version number and its aliases."""
    return Model(
        name=row.name,
        team=row.team,
        description=row.description,
        tags=dict(row.tags),
        created_at=row.created_at,
        updated_at=row.updated_at,
        latest_version=latest_version,
        aliases=dict(sorted(aliases.items())),
        visibility=row.visibility,
        contact=row.contact,
        task=row.task,
    )


def stored_signature(body: Any) -> Signature:
    """The `Signature` a stored row holds. Parsing one validates every tensor spec (about 0.2 ms for
    20 inputs: 80% of a registry snapshot's time); stored signatures are immutable and repeat across
    versions and snapshots, so each distinct one is parsed once (`Signature` is frozen)."""
    return _parsed_signature(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


@functools.lru_cache(maxsize=65536)
def _parsed_signature(text: bytes) -> Signature:
    return Signature.from_dict(orjson.loads(text))


def version_from_row(row: Row[Any], *, model: str, aliases: Iterable[str] = ()) -> Version:
    """A `Version` from a ``versions`` row; `aliases` are the aliases pointing at it."""
    return Version(
        model=model,
        number=row.number,
        flavor=row.flavor,
        artifact=ArtifactRef(
            sha256=row.artifact_sha256,
            uri=row.artifact_uri,
            size=row.artifact_size,
            filename=row.artifact_filename,
        ),
        signature=stored_signature(row.signature),
        runtime_config=dict(row.runtime_config),
        input_example=None if row.input_example is None else dict(row.input_example),
        metadata=metadata_from_row(row),
        trusted=bool(row.trusted),
        pushed_by=row.pushed_by,
        source=row.source,
        created_at=row.created_at,
        aliases=tuple(sorted(aliases)),
    )


def metadata_from_row(row: Row[Any]) -> VersionMetadata:
    """The metadata columns of a ``versions`` row."""
    return VersionMetadata(
        metrics=dict(row.metrics),
        params=dict(row.params),
        feature_importance=dict(row.feature_importance),
        docs=row.docs,
        training_data=row.training_data,
        tags=dict(row.tags),
        card=None if row.card is None else dict(row.card),
    )


def _stored_card(card: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A card as the ``card`` column holds it: checked, and NULL when it has no text at all."""
    return (checked_card(card) or None) if card is not None else None


def event_from_row(row: Row[Any], *, model: str) -> AliasEvent:
    """An `AliasEvent` from an ``alias_events`` row."""
    return AliasEvent(
        model=model,
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        at=row.at,
    )


def new_version_values(new: NewVersion) -> dict[str, Any]:
    """The column values of a new ``versions`` row (without model, number and time), checked."""
    artifact = new.artifact
    if not isinstance(new.flavor, str) or not new.flavor:
        raise BerthError(ErrorCode.INVALID_REQUEST, "a version needs a flavor")
    if not isinstance(artifact.size, int) or artifact.size < 0:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"invalid artifact size {artifact.size!r}")
    return {
        "flavor": new.flavor,
        "artifact_sha256": check_sha256(artifact.sha256),
        "artifact_uri": artifact.uri,
        "artifact_size": artifact.size,
        "artifact_filename": artifact.filename,
        "signature": new.signature.to_dict(),
        "runtime_config": _mapping("runtime_config", new.runtime_config),
        "input_example": None if new.input_example is None else _mapping("input_example", new.input_example),
        "trusted": bool(new.trusted),
        "pushed_by": checked_text("pushed_by", new.pushed_by),
        "source": checked_text("source", new.source),
        **metadata_values(new.metadata),
    }


def metadata_values(metadata: VersionMetadata) -> dict[str, Any]:
    """The metadata columns of a version, checked: metrics and feature importances are finite numbers."""
    return {
        "metrics": _numbers("metrics", metadata.metrics),
        "params": _mapping("params", metadata.params),
        "feature_importance": _numbers("feature_importance", metadata.feature_importance),
        "docs": checked_text("docs", metadata.docs),
        "training_data": checked_text("training_data", metadata.training_data),
        "tags": string_tags("tags", metadata.tags),
        "card": _stored_card(metadata.card),
    }


def string_tags(field: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tags as a plain dict of strings (None: no tags)."""
    checked = _string_keys(field, tags or {})
    bad = [k for k, v in checked.items() if not isinstance(v, str)]
    if bad:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{field} values must be strings (not for {bad})")
    return checked


def _numbers(field: str, values: Mapping[str, Any]) -> dict[str, float]:
    checked = _string_keys(field, values)
    result: dict[str, float] = {}
    for key, value in checked.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"{field}[{key!r}] must be a finite number, got {value!r}"
            )
        result[key] = float(value)
    return result


def _string_keys(field: str, values: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{field} must be a mapping with string keys")
    return dict(values)


def _mapping(field: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON object: string keys, and values JSON can hold (no NaN or infinity)."""
    values = _string_keys(field, values)
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{field} is not storable as JSON: {exc}") from None
    return dict(values)


def checked_number(number: int) -> int:
    """A version number must be an int (a bool or a numeric string is refused)."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"a version number is an integer, got {number!r}")
    return number


def checked_team(team: str) -> str:
    """A team name: a non-empty string."""
    if not isinstance(team, str) or not team.strip():
        raise BerthError(ErrorCode.INVALID_REQUEST, "a model's team must be a non-empty string")
    return team


def checked_text(field: str, value: str) -> str:
    """A text field: a string (INVALID_REQUEST otherwise)."""
    if not isinstance(value, str):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{field} must be a string, got {type(value).__name__}")
    return value
