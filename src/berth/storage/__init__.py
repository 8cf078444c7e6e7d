"""Storage: the registry store (SQLite or PostgreSQL) and artifact stores (by URI scheme).

Open them with `open_registry_store(database_url)` and `open_artifact_store(uri)`; the
contracts are `RegistryStore` and `ArtifactStore` in `berth.storage.protocols`.
"""

from berth.storage.artifacts import LocalArtifactStore, open_artifact_store
from berth.storage.protocols import ArtifactStore, RegistryStore
from berth.storage.sql_registry import SqlRegistryStore, open_registry_store

__all__ = [
    "ArtifactStore",
    "LocalArtifactStore",
    "RegistryStore",
    "SqlRegistryStore",
    "open_artifact_store",
    "open_registry_store",
]
