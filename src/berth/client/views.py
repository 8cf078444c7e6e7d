"""Core entities rebuilt from the management API's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from berth.core.entities import AliasEvent, ArtifactRef, Model, Version, VersionMetadata
from berth.core.signature import Signature


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def model_from_json(body: dict[str, Any]) -> Model:
    return Model(
        name=body["name"],
        team=body["team"],
        description=body["description"],
        tags=dict(body["tags"]),
        created_at=_time(body["created_at"]),
        updated_at=_time(body["updated_at"]),
        latest_version=body.get("latest_version"),
        aliases=dict(body.get("aliases", {})),
        visibility=body.get("visibility", "private"),
        contact=body.get("contact", ""),
        task=body.get("task", ""),
    )


def version_from_json(body: dict[str, Any]) -> Version:
    artifact = body["artifact"]
    return Version(
        model=body["model"],
        number=int(body["version"]),
        flavor=body["flavor"],
        artifact=ArtifactRef(
            sha256=artifact["sha256"], uri="", size=int(artifact["size"]), filename=artifact["filename"]
        ),
        signature=Signature.from_dict(body["signature"]),
        runtime_config={} if body.get("classes") is None else {"classes": list(body["classes"])},
        input_example=body.get("input_example"),
        metadata=VersionMetadata(
            metrics=dict(body.get("metrics", {})),
            params=dict(body.get("params", {})),
            feature_importance=dict(body.get("feature_importance", {})),
            docs=body.get("docs", ""),
            training_data=body.get("training_data", ""),
            tags=dict(body.get("tags", {})),
            card=None if body.get("card") is None else dict(body["card"]),
        ),
        trusted=bool(body.get("trusted", False)),
        pushed_by=body.get("pushed_by", ""),
        source=body.get("source", ""),
        created_at=_time(body["created_at"]),
        aliases=tuple(body.get("aliases", ())),
    )


def alias_event_from_json(body: dict[str, Any]) -> AliasEvent:
    return AliasEvent(
        model=body["model"],
        alias=body["alias"],
        from_version=body.get("from_version"),
        to_version=body.get("to_version"),
        actor=body.get("actor", ""),
        at=_time(body["at"]),
        reason=body.get("reason", ""),
    )
