"""The manifest of a model folder: what `berth serve --model-dir` serves and `berth image build` bakes.

A model folder holds exactly two things (docs/image.md):

```
berth-model.json      this manifest
<artifact filename>   the version's artifact, byte for byte as it was pushed
```

The manifest names the model and the version it came from, the flavor, the artifact (file name,
sha256, size), the signature, the runtime configuration (batching), whether loading it needs trust,
and the version's metadata. It is the same JSON whether `berth image build` wrote it or a KServe
storage initializer copied the folder to ``/mnt/models``; reading it validates every field, so a
folder made by hand is held to what a push would have checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from berth.core.entities import Version, check_alias_name, check_model_name, check_sha256
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature

MANIFEST_NAME: Final = "berth-model.json"
"""The manifest's file name inside a model folder."""
MANIFEST_FORMAT: Final = "berth-model/1"
"""The manifest format this berth writes and reads."""
MAX_MANIFEST_BYTES: Final = 16 * 1024 * 1024
"""The largest manifest read (it carries the model card and the input example)."""
_FILE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_METADATA_KEYS: Final = ("metrics", "params", "feature_importance", "docs", "training_data", "tags")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelManifest:
    """One model version, as a folder describes it."""

    name: str
    version: int
    flavor: str
    filename: str
    sha256: str
    size: int
    signature: Signature
    runtime_config: dict[str, Any] = field(default_factory=dict)
    trusted: bool = False
    aliases: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    input_example: dict[str, Any] | None = None

    @classmethod
    def of_version(cls, version: Version) -> ModelManifest:
        """The manifest of a registry version; the artifact keeps its pushed name when that is a
        plain file name, else ``artifact`` plus its suffix."""
        meta = version.metadata
        return cls(
            name=version.model,
            version=version.number,
            flavor=version.flavor,
            filename=artifact_file_name(version.artifact.filename),
            sha256=version.artifact.sha256,
            size=version.artifact.size,
            signature=version.signature,
            runtime_config=dict(version.runtime_config),
            trusted=version.trusted,
            aliases=tuple(version.aliases),
            metadata={
                "metrics": dict(meta.metrics),
                "params": dict(meta.params),
                "feature_importance": dict(meta.feature_importance),
                "docs": meta.docs,
                "training_data": meta.training_data,
                "tags": dict(meta.tags),
                "pushed_by": version.pushed_by,
                "source": version.source,
                "created_at": version.created_at.isoformat(),
            },
            input_example=version.input_example,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "name": self.name,
            "version": self.version,
            "flavor": self.flavor,
            "artifact": {"filename": self.filename, "sha256": self.sha256, "size": self.size},
            "signature": self.signature.to_dict(),
            "runtime_config": self.runtime_config,
            "trusted": self.trusted,
            "aliases": list(self.aliases),
            "metadata": self.metadata,
            "input_example": self.input_example,
        }

    @classmethod
    def from_dict(cls, body: Any) -> ModelManifest:
        """A manifest from its JSON; MODEL_FOLDER_INVALID naming the first field that is wrong."""
        if not isinstance(body, Mapping):
            raise _invalid("the manifest is not a JSON object")
        if body.get("format") != MANIFEST_FORMAT:
            raise _invalid(f"unknown manifest format {body.get('format')!r} (expected {MANIFEST_FORMAT!r})")
        artifact = body.get("artifact")
        if not isinstance(artifact, Mapping):
            raise _invalid("'artifact' must be an object with filename, sha256 and size")
        name = _field(body, "name", str)
        version = _field(body, "version", int)
        size = _field(artifact, "size", int)
        if version < 1 or size < 0:
            raise _invalid("'version' must be at least 1 and 'artifact.size' at least 0")
        runtime_config = body.get("runtime_config") or {}
        metadata = body.get("metadata") or {}
        example = body.get("input_example")
        aliases = body.get("aliases") or []
        if not isinstance(runtime_config, Mapping) or not isinstance(metadata, Mapping):
            raise _invalid("'runtime_config' and 'metadata' must be objects")
        if example is not None and not isinstance(example, Mapping):
            raise _invalid("'input_example' must be an object (an OIP request) or null")
        if not isinstance(aliases, list):
            raise _invalid("'aliases' must be a list")
        _check_metadata(metadata)
        trusted = body.get("trusted", False)
        if not isinstance(trusted, bool):
            raise _invalid("'trusted' must be true or false")
        signature = body.get("signature")
        if not isinstance(signature, Mapping):
            raise _invalid("'signature' must be an object")
        filename = _field(artifact, "filename", str)
        if not _FILE_NAME.match(filename) or filename == MANIFEST_NAME:
            raise _invalid(f"'artifact.filename' {filename!r} must be a plain file name in the folder")
        try:
            return cls(
                name=check_model_name(name),
                version=version,
                flavor=_field(body, "flavor", str),
                filename=filename,
                sha256=check_sha256(_field(artifact, "sha256", str)),
                size=size,
                signature=Signature.from_dict(signature),
                runtime_config=dict(runtime_config),
                trusted=trusted,
                aliases=tuple(check_alias_name(str(a)) for a in aliases),
                metadata=dict(metadata),
                input_example=dict(example) if example is not None else None,
            )
        except BerthError as exc:
            raise _invalid(f"invalid manifest: {exc.message}") from None

    def metadata_update(self) -> dict[str, Any]:
        """The version metadata fields the manifest carries (what a registry version is given)."""
        return {k: self.metadata[k] for k in _METADATA_KEYS if k in self.metadata}


def artifact_file_name(pushed: str) -> str:
    """A plain file name for an artifact pushed as `pushed` (its suffixes kept when they are safe)."""
    if _FILE_NAME.match(pushed) and pushed != MANIFEST_NAME:
        return pushed
    suffixes = "".join(s for s in re.findall(r"\.[A-Za-z0-9]{1,10}", pushed.rsplit("/", 1)[-1])[-2:])
    return f"artifact{suffixes}"


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    for key in ("metrics", "params", "feature_importance", "tags"):
        if not isinstance(metadata.get(key, {}), Mapping):
            raise _invalid(f"'metadata.{key}' must be an object")
    for key in ("docs", "training_data", "pushed_by", "source"):
        if not isinstance(metadata.get(key, ""), str):
            raise _invalid(f"'metadata.{key}' must be a string")
    for key in ("metrics", "feature_importance"):
        values = metadata.get(key, {})
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
            raise _invalid(f"'metadata.{key}' must map names to numbers")
    if not all(isinstance(v, str) for v in metadata.get("tags", {}).values()):
        raise _invalid("'metadata.tags' must map names to strings")


def _field(body: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(f"'{key}' must be a {kind.__name__}")
    return value


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.MODEL_FOLDER_INVALID, message)
