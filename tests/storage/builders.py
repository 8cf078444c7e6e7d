"""Test values: real `NewVersion`s with a tiny signature and an artifact reference."""

from __future__ import annotations

import hashlib
from typing import Any

from berth.core.entities import ArtifactRef, NewVersion, VersionMetadata
from berth.core.signature import Signature, TensorSpec

SIGNATURE = Signature(
    inputs=(TensorSpec("input-0", "FP32", (-1, 3)),),
    outputs=(TensorSpec("label", "INT64", (-1,)), TensorSpec("proba", "FP32", (-1, 2))),
    default_outputs=("label",),
)


def artifact(content: bytes = b"model bytes", filename: str = "model.skops") -> ArtifactRef:
    digest = hashlib.sha256(content).hexdigest()
    return ArtifactRef(sha256=digest, uri=f"file:///artifacts/{digest}", size=len(content), filename=filename)


def new_version(flavor: str = "sklearn", content: bytes = b"model bytes", **fields: Any) -> NewVersion:
    """A `NewVersion` of `flavor` whose artifact is `content`; `fields` override the rest."""
    values: dict[str, Any] = {
        "flavor": flavor,
        "artifact": artifact(content),
        "signature": SIGNATURE,
        "runtime_config": {"threads": 1},
        "input_example": {"input-0": [[1.0, 2.0, 3.0]]},
        "metadata": VersionMetadata(
            metrics={"accuracy": 0.9},
            params={"C": 1.0, "penalty": "l2"},
            feature_importance={"a": 0.5, "b": 0.3, "c": 0.2},
            docs="# Model card",
            training_data="s3://bucket/train.parquet",
            tags={"stage": "test"},
        ),
        "trusted": True,
        "pushed_by": "alice",
        "source": "git:abc123",
    }
    values.update(fields)
    return NewVersion(**values)
