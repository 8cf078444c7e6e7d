"""Which implementation serves each store the settings name: one table per kind, keyed by URI scheme.

This is the one place that picks an implementation. A new backend (``s3://`` artifacts, say) is a
module in `berth.storage` that meets the contract in `berth.storage.protocols`, and a row here;
nothing above the wiring knows which one runs. An unknown scheme is refused at start-up, naming the
supported ones (``INVALID_REQUEST``).

Today: the registry, endpoint, entity (lookup steps), record, job, alert and profile tables live in
one SQL database (``sqlite:///`` or ``postgresql://``, `Settings.database_url`); artifacts in a
folder (``file://``) or in S3-compatible object storage (``s3://bucket/prefix``, read through a
local cache), `Settings.artifact_uri`; record exports likewise, `Settings.export_uri` (by default
under the artifacts' prefix when that is ``s3://``, else in the home); prediction records go through
the record sink `Settings.record_sink` names into that database: ``journal://`` (the default), the
local journal (`Settings.journal_dir`) that each server's monitor process ingests
(`berth.storage.record_ingest`), or ``nats://host:port/STREAM``, a NATS JetStream stream that the
monitor role drains (`berth.storage.record_stream`, `berth.storage.record_drain`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit

from berth.core import extras
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.artifacts import file_uri_folder, local_artifact_store
from berth.storage.db import database_url
from berth.storage.feature_protocols import FeatureHistory, OnlineStore
from berth.storage.feature_sources import FeatureSourceRules
from berth.storage.migrate import HEAD_REVISION, is_current
from berth.storage.protocols import ArtifactStore
from berth.storage.sql_registry import SqlRegistryStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from berth.control.review_order import TextEmbedder
    from berth.core.features import FeatureView
    from berth.storage.batch_data import BatchData
    from berth.storage.export_files import ExportFiles
    from berth.storage.record_stream import StreamTarget

_Factory = TypeVar("_Factory")


def _file_store(uri: str, _: Settings) -> ArtifactStore:
    return local_artifact_store(uri)


def _s3_store(uri: str, settings: Settings) -> ArtifactStore:
    extras.require("s3", f"the artifact store {uri}")
    from berth.storage.s3_artifacts import S3Options, s3_artifact_store  # boto3: only where s3:// is used

    options = S3Options(
        cache_dir=settings.resolved_artifact_cache_dir / "artifacts",
        cache_max_bytes=settings.artifact_cache_bytes,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        sse=settings.s3_sse,
        kms_key_id=settings.s3_sse_kms_key_id,
        multipart_threshold_bytes=settings.s3_multipart_threshold_bytes,
    )
    return s3_artifact_store(uri, options)


ARTIFACT_STORES: Final[Mapping[str, Callable[[str, Settings], ArtifactStore]]] = MappingProxyType(
    {"file": _file_store, "s3": _s3_store}
)
"""Artifact stores by URI scheme, each built from its URI and the settings."""


def _file_exports(uri: str, _: Settings) -> ExportFiles:
    from berth.storage.export_files import LocalExportFiles  # pyarrow: only where records are exported

    return LocalExportFiles(file_uri_folder(uri, "export store"))


def _s3_exports(uri: str, settings: Settings) -> ExportFiles:
    extras.require("s3", f"the export store {uri}")
    from berth.storage.s3_exports import S3ExportOptions, s3_export_files  # boto3: only where s3:// is used

    options = S3ExportOptions(
        spool_dir=settings.resolved_artifact_cache_dir / "export-spool",
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        sse=settings.s3_sse,
        kms_key_id=settings.s3_sse_kms_key_id,
        multipart_threshold_bytes=settings.s3_multipart_threshold_bytes,
    )
    return s3_export_files(uri, options)


EXPORT_STORES: Final[Mapping[str, Callable[[str, Settings], ExportFiles]]] = MappingProxyType(
    {"file": _file_exports, "s3": _s3_exports}
)
"""Where record exports are kept, by URI scheme, each built from its URI and the settings."""


def open_batch_data(settings: Settings) -> BatchData:
    """Where batch jobs may read and write ``s3://`` data: the locations `Settings.batch_s3_allow`
    names, reached with the ``s3_*`` settings, never writing under the artifacts' or exports' prefix."""
    from berth.storage.batch_data import S3Rules

    extras.require("s3", "a batch job's s3:// input or output")
    from berth.storage.s3_batch_data import S3BatchOptions, s3_batch_data  # boto3: only where s3:// is used

    rules = S3Rules.parse(
        settings.batch_s3_allow, [settings.resolved_artifact_uri, settings.resolved_export_uri]
    )
    options = S3BatchOptions(
        rules=rules,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        sse=settings.s3_sse,
        kms_key_id=settings.s3_sse_kms_key_id,
        multipart_threshold_bytes=settings.s3_multipart_threshold_bytes,
    )
    return s3_batch_data(options)


def _journal_sink(uri: str, _: Settings) -> None:
    if uri.rstrip("/") != "journal:":
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"the journal record sink is journal:// (its folder is journal_dir), got {uri!r}",
        )


def _nats_sink(uri: str, _: Settings) -> StreamTarget:
    extras.require("nats", "the record sink nats://")
    from berth.storage.record_stream import parse_stream_uri  # nats-py: only where nats:// is used

    return parse_stream_uri(uri)


RECORD_SINKS: Final[Mapping[str, Callable[[str, Settings], StreamTarget | None]]] = MappingProxyType(
    {"journal": _journal_sink, "nats": _nats_sink}
)
"""Where records go before the record store, by URI scheme: None for the local journal, else the
record stream."""


def record_stream(settings: Settings) -> StreamTarget | None:
    """The record stream `Settings.record_sink` names; None: records go through the local journal."""
    uri = settings.record_sink
    return _pick("record sink", RECORD_SINKS, urlsplit(uri).scheme, uri)(uri, settings)


def _embedded_features(uri: str, io: FeatureIO) -> OnlineStore:
    from berth.storage.embedded_features import EmbeddedFeatures
    from berth.storage.sql_entities import SqlEntityStore

    if uri.rstrip("/") != "embedded:":
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the embedded feature source is embedded:, got {uri!r}")
    return EmbeddedFeatures(SqlEntityStore(io.engine), io.executor)


def _redis_features(uri: str, _: FeatureIO) -> OnlineStore:
    extras.require("redis", f"the feature source {uri}")
    from berth.storage.redis_features import RedisFeatures  # redis-py: only where redis:// is used

    return RedisFeatures(uri)


def _feast_features(uri: str, _: FeatureIO) -> OnlineStore:
    from berth.storage.feast_features import FeastFeatures

    return FeastFeatures(uri)


@dataclass(frozen=True, slots=True)
class FeatureIO:
    """What a feature store may need besides its URI: the registry database, the I/O threads, and
    the servers views may reach (none by default)."""

    engine: Engine
    rules: FeatureSourceRules
    executor: Executor | None = None


FEATURE_STORES: Final[Mapping[str, Callable[[str, FeatureIO], OnlineStore]]] = MappingProxyType(
    {
        "embedded": _embedded_features,
        "redis": _redis_features,
        "feast+http": _feast_features,
        "feast+https": _feast_features,
    }
)
"""Where feature views' values are, by the scheme of each view's source URI."""


def feature_stores(io: FeatureIO) -> Callable[[str], OnlineStore]:
    """The function that builds the online store a view's source URI names."""

    def open_store(uri: str) -> OnlineStore:
        io.rules.check(uri, "feature source")
        return _pick("feature source", FEATURE_STORES, urlsplit(uri).scheme, uri)(uri, io)

    return open_store


@dataclass(frozen=True, slots=True)
class HistoryIO:
    """What an offline history may need besides its URI: the berth home (paths are relative to it)
    and the ``s3://`` locations batch jobs may reach (built on first use: it needs the s3 extra)."""

    home: Path
    batch_data: Callable[[], BatchData]
    rules: FeatureSourceRules


def _home_history(view: FeatureView, io: HistoryIO) -> FeatureHistory:
    from berth.storage.parquet_history import HomeParquet, ParquetHistory  # pyarrow: when one is read

    return ParquetHistory(view, HomeParquet(io.home, str(view.offline)))


def _s3_history(view: FeatureView, io: HistoryIO) -> FeatureHistory:
    from berth.storage.parquet_history import ParquetHistory, S3Parquet  # pyarrow: when one is read

    return ParquetHistory(view, S3Parquet(io.batch_data(), str(view.offline)))


def _feast_history(view: FeatureView, _: HistoryIO) -> FeatureHistory:
    from berth.storage.feast_history import FeastHistory  # pyarrow.flight: only where feast+flight is used
    from berth.storage.parquet_history import ARROW_TYPES

    types = {name: ARROW_TYPES[dtype] for name, dtype in view.features.items()}
    try:
        return FeastHistory(str(view.offline), entity=view.entity, types=types)
    except BerthError as exc:
        raise BerthError(ErrorCode.INVALID_OFFLINE_SOURCE, exc.message) from None


FEATURE_HISTORIES: Final[Mapping[str, Callable[[FeatureView, HistoryIO], FeatureHistory]]] = MappingProxyType(
    {"": _home_history, "s3": _s3_history, "feast+flight": _feast_history}
)
"""Where a view's offline history is, by the scheme of its ``offline`` URI: no scheme is a path of
the berth home (never out of it), ``s3://`` a location of `Settings.batch_s3_allow`,
``feast+flight://host:port/FEAST_VIEW?project=P`` Feast's offline server (`feast serve_offline`;
Feast's own TTL applies). Nothing else reaches the file system or the network."""


def open_feature_history(view: FeatureView, io: HistoryIO) -> FeatureHistory:
    """The history `view.offline` names (INVALID_OFFLINE_SOURCE when it names none, or one out of reach)."""
    uri = str(view.offline or "")
    if not uri:
        raise BerthError(
            ErrorCode.INVALID_OFFLINE_SOURCE, f"feature view {view.name!r} declares no offline history"
        )
    io.rules.check(uri, "offline history")
    scheme = urlsplit(uri).scheme if "://" in uri else ""
    factory = FEATURE_HISTORIES.get(scheme)
    if factory is None:
        supported = ", ".join(f"{s}://" if s else "a path in the home" for s in sorted(FEATURE_HISTORIES))
        raise BerthError(
            ErrorCode.INVALID_OFFLINE_SOURCE,
            f"unsupported offline history {uri!r:.200}: use {supported}",
        )
    return factory(view, io)


def check_feature_history(view: FeatureView, io: HistoryIO) -> None:
    """At a view's declaration: its history is in reach and, when it is there already, holds the
    key, the event time and the features with compatible types (INVALID_OFFLINE_SOURCE)."""
    if view.offline is None:
        return
    history = open_feature_history(view, io)
    check = getattr(history, "check", None)  # a history that can look at its schema does
    if callable(check):
        check()


DATABASES: Final[Mapping[str, Callable[..., SqlRegistryStore]]] = MappingProxyType(
    {"sqlite": SqlRegistryStore, "postgresql": SqlRegistryStore}
)
"""The platform's database by SQLAlchemy backend (``postgres://`` and ``postgresql+psycopg://``
are ``postgresql``)."""


def open_artifacts(settings: Settings) -> ArtifactStore:
    """The artifact store `Settings.artifact_uri` names (a folder in the home by default)."""
    uri = settings.resolved_artifact_uri
    return _pick("artifact store", ARTIFACT_STORES, urlsplit(uri).scheme, uri)(uri, settings)


def open_exports(settings: Settings) -> ExportFiles:
    """The export store `Settings.export_uri` names (see `Settings.resolved_export_uri`)."""
    uri = settings.resolved_export_uri
    return _pick("export store", EXPORT_STORES, urlsplit(uri).scheme, uri)(uri, settings)


def open_database(url: str, *, migrate: bool = True) -> SqlRegistryStore:
    """The registry store (and the engine every other table shares) on the database `url` names,
    migrated to the newest schema first (`migrate`), or checked to be at it (a process of a platform
    whose migrations run as a one-off job, ``berth db upgrade``)."""
    store = _pick("database", DATABASES, database_url(url).get_backend_name(), url)(url, migrate=migrate)
    if not migrate and not is_current(store.engine):
        store.close()
        raise BerthError(
            ErrorCode.UNAVAILABLE,
            f"the database is not at berth's schema revision {HEAD_REVISION}: run `berth db upgrade` first",
        )
    return store


def _pick(kind: str, table: Mapping[str, _Factory], scheme: str, uri: str) -> _Factory:
    try:
        return table[scheme]
    except KeyError:
        supported = ", ".join(f"{s}://" for s in sorted(table))
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"unsupported {kind} URI {uri!r}: supported schemes are {supported}"
        ) from None


def text_embedder() -> TextEmbedder | None:
    """The sentence encoder's `embed` when the ``text`` extra is installed: the needs-review order
    then groups records of one text by meaning (`berth.control.review_order`); else None (by
    category). Neither the encoder nor its module (scikit-learn, numpy's BLAS) is imported here:
    every server, monitor and CLI process opens the record service, few ever order a needs-review
    page, and the import costs each of them a second and 100 MB."""
    import importlib.util

    if any(importlib.util.find_spec(module) is None for module in extras.EXTRAS["text"]):
        return None

    def embed(texts: Sequence[str]) -> Any:
        from berth.runtime.sentence_encoder import embed as encode

        return encode(texts)

    return embed
