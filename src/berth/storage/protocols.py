"""The storage contracts: the registry store (metadata) and the artifact store (bytes).

Implementations: `berth.storage.sql_registry.SqlRegistryStore` (SQLite or PostgreSQL, by URL)
and `berth.storage.artifacts.LocalArtifactStore` (``file://`` URIs). One contract test suite
runs every implementation (``tests/storage``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from berth.core.endpoints import Endpoint, EndpointChange, EndpointEvent, EndpointSpec
from berth.core.entities import (
    AliasEvent,
    ArtifactRef,
    Model,
    NewVersion,
    RegistrySnapshot,
    SnapshotScope,
    Version,
)


class RegistryStore(Protocol):
    """Models, their numbered immutable versions and movable aliases, with the history of every move.

    Every method that changes state bumps the change counter (`generation`) in the same
    transaction, so a server that sees a new generation knows it must re-read the snapshot.
    Errors are `BerthError`s: MODEL_NOT_FOUND, VERSION_NOT_FOUND, ALIAS_NOT_FOUND, ALREADY_EXISTS,
    INVALID_NAME.
    """

    def create_model(
        self,
        name: str,
        *,
        team: str = "default",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Model: ...

    def get_model(self, name: str) -> Model: ...

    def update_model(
        self,
        name: str,
        *,
        team: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Model: ...

    def list_models(
        self,
        *,
        text: str | None = None,
        team: str | None = None,
        tags: Mapping[str, str] | None = None,
        flavor: str | None = None,
        limit: int = 100,
        offset: int = 0,
        teams: Collection[str] | None = None,
    ) -> list[Model]:
        """Models matching every filter given: `text` in name or description (case-insensitive),
        exact team, every tag key=value, at least one version of `flavor`, a team among `teams`
        (what the caller may read); sorted by name."""
        ...

    def create_version(
        self,
        name: str,
        new: NewVersion,
        *,
        create_model: bool = True,
        team: str = "default",
        expected_team: str | None = None,
        aliases: Sequence[str] = (),
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Version:
        """Append a version numbered one past the model's highest (1 for the first), atomically even
        under concurrent pushes. Creates the model (owned by `team`) when missing and `create_model`.
        MODEL_NOT_FOUND when `expected_team` is given and the model belongs to another team, checked
        in the transaction that appends the version; `aliases` move to it in that transaction."""
        ...

    def get_version(self, name: str, number: int) -> Version: ...

    def list_versions(self, name: str) -> list[Version]:
        """All versions of a model, oldest first."""
        ...

    def resolve(self, name: str, ref: str | None) -> Version:
        """The version a reference names: a number ("3"), an alias ("production"), "latest", or None
        (the model's 'production' alias when it has one, else its latest version)."""
        ...

    def update_version_metadata(self, name: str, number: int, update: Mapping[str, Any]) -> Version:
        """Replace metadata fields (metrics, params, feature_importance, docs, training_data, tags)."""
        ...

    def set_alias(
        self, name: str, alias: str, number: int, *, actor: str = "", reason: str = ""
    ) -> AliasEvent: ...

    def delete_alias(self, name: str, alias: str, *, actor: str = "", reason: str = "") -> AliasEvent: ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of one alias (or of all aliases of the model), oldest first."""
        ...

    def generation(self) -> int:
        """The change counter: it grows with every change of models, versions or aliases."""
        ...

    def snapshot(self, scope: SnapshotScope | None = None) -> RegistrySnapshot:
        """Every version and alias (or those of the models in `scope`), read in one transaction,
        with the generation it was read at."""
        ...

    def close(self) -> None: ...


class ArtifactStore(Protocol):
    """Content-addressed bytes. Nothing from a request names a file: only validated sha256 digests."""

    def put(self, source: BinaryIO, *, filename: str, max_bytes: int | None = None) -> ArtifactRef:
        """Store the stream's bytes (hashing while copying); return where and what they hash to.
        Storing the same bytes twice stores them once. Over `max_bytes`: PAYLOAD_TOO_LARGE."""
        ...

    def fetch(self, ref: ArtifactRef) -> Path:
        """A local file holding the artifact, verified against `ref.sha256` before it is returned
        (ARTIFACT_INTEGRITY when the bytes do not match, ARTIFACT_INVALID when they are missing)."""
        ...


class EndpointStore(Protocol):
    """Endpoints: the current spec of each (numbered revisions) and every change as an event.

    Changes bump the registry's change counter in the same transaction. Errors: ENDPOINT_NOT_FOUND,
    ALREADY_EXISTS (also when a model has the name), CONFLICT (a stale `expected_revision`),
    INVALID_NAME."""

    def create_endpoint(
        self,
        name: str,
        spec: EndpointSpec,
        *,
        team: str = "default",
        description: str = "",
        actor: str = "",
        reason: str = "",
    ) -> Endpoint: ...

    def get_endpoint(self, name: str) -> Endpoint: ...

    def list_endpoints(self) -> list[Endpoint]: ...

    def update_endpoint(
        self,
        name: str,
        spec: EndpointSpec,
        *,
        expected_revision: int | None = None,
        kind: str = EndpointChange.UPDATE,
        description: str | None = None,
        team: str | None = None,
        actor: str = "",
        reason: str = "",
    ) -> Endpoint: ...

    def delete_endpoint(self, name: str, *, actor: str = "", reason: str = "") -> EndpointEvent: ...

    def endpoint_history(self, name: str) -> list[EndpointEvent]: ...


class EntityStore(Protocol):
    """Features of entities by key, per entity table (the simple online store)."""

    def entity_table_owner(self, table: str) -> str | None: ...

    def entity_table_owners(self) -> dict[str, str]: ...

    def put_entities(
        self, table: str, rows: Mapping[str, Mapping[str, Any]], *, team: str | None = None
    ) -> int: ...

    def get_entities(self, table: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def delete_entity(self, table: str, key: str) -> bool: ...

    def entity_tables(self) -> dict[str, int]: ...
