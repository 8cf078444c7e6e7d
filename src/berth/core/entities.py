"""The registry's nouns: models, versions, aliases and push requests, as plain immutable values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from berth.core.errors import BerthError, ErrorCode

if TYPE_CHECKING:
    from berth.core.endpoints import Endpoint
from berth.core.signature import Signature

MAX_NAME_LENGTH: Final = 128
"""The longest model (and endpoint) name."""
MAX_ALIAS_LENGTH: Final = 64
"""The longest alias."""
_MODEL_NAME: Final = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}$")
_ALIAS_NAME: Final = re.compile(rf"^[A-Za-z][A-Za-z0-9._-]{{0,{MAX_ALIAS_LENGTH - 1}}}$")
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")

LATEST: Final = "latest"
"""The version reference that always means a model's newest version (not an alias: it cannot be set)."""
PRODUCTION: Final = "production"
"""The alias a bare model name resolves to, when the model has it."""


def check_model_name(name: str) -> str:
    """A model name: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or ".." in name:
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' (at most "
            f"{MAX_NAME_LENGTH}), starting with a letter or digit",
        )
    return name


def check_alias_name(alias: str) -> str:
    """An alias: starts with a letter (so it never reads as a version number); 'latest' is reserved."""
    if not isinstance(alias, str) or not _ALIAS_NAME.match(alias):
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid alias {alias!r}: use letters, digits, '.', '_' and '-' (at most "
            f"{MAX_ALIAS_LENGTH}), starting with a letter",
        )
    if alias == LATEST:
        raise BerthError(ErrorCode.INVALID_NAME, "'latest' is reserved: it always means the newest version")
    return alias


def check_sha256(digest: str) -> str:
    """A lower-case hex sha256 digest; anything else is refused before it can name a file."""
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise BerthError(ErrorCode.ARTIFACT_INTEGRITY, f"invalid sha256 digest {digest!r}")
    return digest


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    team: str
    description: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)
    visibility: str = "private"
    """`berth.core.access.Visibility`: private, or discoverable by every authenticated principal."""
    contact: str = ""
    """Who to ask about the model (shown in the catalog)."""
    task: str = ""
    """classification, regression, text, ... (`berth.core.catalog.derive_task`); '' unknown."""


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """Where a version's bytes are, and what they hash to. `filename` is the name it was pushed with."""

    sha256: str
    uri: str
    size: int
    filename: str


@dataclass(frozen=True, slots=True)
class VersionMetadata:
    """Everything an owner tells about a version besides its artifact. Free to update after push."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    feature_importance: dict[str, float] = field(default_factory=dict)
    docs: str = ""
    training_data: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    card: dict[str, str] | None = None
    """The model card: section -> Markdown text (`berth.core.model_cards`); None: none pushed."""

    def merged(self, update: Mapping[str, Any]) -> VersionMetadata:
        """A copy with the keys of `update` replaced (dicts are replaced whole, not merged)."""
        known = {"metrics", "params", "feature_importance", "docs", "training_data", "tags", "card"}
        unknown = set(update) - known
        if unknown:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"unknown metadata fields {sorted(unknown)}")
        values = {k: getattr(self, k) for k in known}
        values.update({k: v for k, v in update.items() if v is not None})
        return VersionMetadata(**values)


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a push hands the registry store: the stored artifact and what describes it."""

    flavor: str
    artifact: ArtifactRef
    signature: Signature
    runtime_config: dict[str, Any] = field(default_factory=dict)
    input_example: dict[str, Any] | None = None
    metadata: VersionMetadata = field(default_factory=VersionMetadata)
    trusted: bool = False
    pushed_by: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class PushRequest:
    """Everything a push says besides the model itself (`berth.control.publishing` carries it out)."""

    name: str
    team: str = "default"
    description: str = ""
    metadata: VersionMetadata = field(default_factory=VersionMetadata)
    signature: Signature | None = None
    input_example: Any = None
    aliases: tuple[str, ...] = ()
    trusted: bool = False
    pushed_by: str = ""
    source: str = ""
    batching: dict[str, Any] | None = None
    """This version's own batching settings (`BatchingConfig` fields); None: the server's defaults."""
    visibility: str | None = None
    """The model's visibility after this push (None: unchanged; a new model is private)."""
    contact: str | None = None
    """The model's contact after this push (None: unchanged)."""
    expected_team: str | None = None
    """The team the push was authorized for (a server's push): the version is appended only to a
    model of that team, checked in the transaction that appends it. None: no check (a local push)."""


@dataclass(frozen=True, slots=True)
class Version:
    """An immutable, numbered version of a model."""

    model: str
    number: int
    flavor: str
    artifact: ArtifactRef
    signature: Signature
    runtime_config: dict[str, Any]
    input_example: dict[str, Any] | None
    metadata: VersionMetadata
    trusted: bool
    pushed_by: str
    source: str
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def classes(self) -> list[Any] | None:
        """A classifier's classes, in the order of its ``predict_proba`` columns (what its flavor
        recorded at push); None for a model that declares none."""
        found = self.runtime_config.get("classes")
        return list(found) if isinstance(found, list) else None


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias. `from_version` is None when it was created, `to_version` None when deleted."""

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotScope:
    """Which models a registry snapshot holds the versions and aliases of: those of serving group
    `group` (None: of no group), those its endpoints call (`referenced`, a function of the runtime
    that reads an endpoint's targets, shadows and steps), and `also` (what is still served while it
    moves away). Every endpoint and every name's group are read whatever the scope: they are few,
    and a server names the group of what it does not serve."""

    group: str | None
    referenced: Callable[[Endpoint], Iterable[str]]
    also: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """What a server routes by: every model's versions and aliases, every endpoint, and the
    generation they were read at."""

    generation: int
    versions: dict[str, dict[int, Version]]
    aliases: dict[str, dict[str, int]]
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    """The serving group of every model and endpoint, by name (`berth.core.serving_groups`)."""
