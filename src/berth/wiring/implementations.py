"""Which implementation serves each store the settings name: one table per kind, keyed by URI scheme.

This is the one place that picks an implementation. A new backend (``s3://`` artifacts, say) is a
module in `berth.storage` that meets the contract in `berth.storage.protocols`, and a row here;
nothing above the wiring knows which one runs. An unknown scheme is refused at start-up, naming the
supported ones (``INVALID_REQUEST``).

Today: the registry, endpoint, entity (lookup steps), record, job, alert and profile tables live in
one SQL database (``sqlite:///`` or ``postgresql://``, `Settings.database_url`); artifacts in a
folder (``file://``, `Settings.artifact_uri`); prediction records go through the journal
(`Settings.journal_dir`) into that database (`berth.storage.record_ingest`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, TypeVar
from urllib.parse import urlsplit

from berth.core.errors import BerthError, ErrorCode
from berth.storage.artifacts import local_artifact_store
from berth.storage.db import database_url
from berth.storage.protocols import ArtifactStore
from berth.storage.sql_registry import SqlRegistryStore

_Factory = TypeVar("_Factory")

ARTIFACT_STORES: Final[Mapping[str, Callable[[str], ArtifactStore]]] = MappingProxyType(
    {"file": local_artifact_store}
)
"""Artifact stores by URI scheme."""

DATABASES: Final[Mapping[str, Callable[[str], SqlRegistryStore]]] = MappingProxyType(
    {"sqlite": SqlRegistryStore, "postgresql": SqlRegistryStore}
)
"""The platform's database by SQLAlchemy backend (``postgres://`` and ``postgresql+psycopg://``
are ``postgresql``)."""


def open_artifacts(uri: str) -> ArtifactStore:
    return _pick("artifact store", ARTIFACT_STORES, urlsplit(uri).scheme, uri)(uri)


def open_database(url: str) -> SqlRegistryStore:
    """The registry store (and the engine every other table shares) on the database `url` names."""
    return _pick("database", DATABASES, database_url(url).get_backend_name(), url)(url)


def _pick(kind: str, table: Mapping[str, _Factory], scheme: str, uri: str) -> _Factory:
    try:
        return table[scheme]
    except KeyError:
        supported = ", ".join(f"{s}://" for s in sorted(table))
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"unsupported {kind} URI {uri!r}: supported schemes are {supported}"
        ) from None
