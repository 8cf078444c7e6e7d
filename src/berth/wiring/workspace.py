"""A workspace: the registry store, the artifact store, the flavors and the publisher, opened from settings.

Both the server and the CLI's embedded mode (``--home``) open one, so a push from the CLI and a
push through the server take the same path into the same storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.control.endpoints import EndpointService
from berth.control.jobs.service import JobService
from berth.control.monitor_service import MonitorService
from berth.control.publishing import Publisher
from berth.control.record_exports import ExportFolder
from berth.control.record_service import RecordService
from berth.core.settings import Settings
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.storage.journal import segments, wait_for_journal_before
from berth.storage.profile_protocols import ProfileStore
from berth.storage.protocols import ArtifactStore, EntityStore, RegistryStore
from berth.storage.sql_alerts import SqlAlertStore
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_entities import SqlEntityStore
from berth.storage.sql_jobs import SqlJobStore
from berth.storage.sql_profiles import SqlProfileStore
from berth.storage.sql_record_stats import SqlRecordStats
from berth.storage.sql_records import SqlRecordStore
from berth.storage.sql_serving_groups import SqlServingGroups
from berth.wiring.implementations import open_artifacts, open_database, open_exports
from berth.wiring.job_kinds import installed_kinds

ERASURE_WAIT_S = 15.0
"""How long erasing an entity waits for this host's journal to be ingested (rotation + ingestion)."""


@dataclass(frozen=True, slots=True)
class Workspace:
    store: RegistryStore
    artifacts: ArtifactStore
    catalog: FlavorCatalog
    publisher: Publisher
    endpoints: EndpointService
    entities: EntityStore
    jobs: JobService
    profiles: ProfileStore
    records: RecordService
    alerts: SqlAlertStore
    monitor: MonitorService
    record_stats: SqlRecordStats
    groups: SqlServingGroups

    def close(self) -> None:
        self.store.close()


def open_workspace(settings: Settings) -> Workspace:
    settings.home.mkdir(parents=True, exist_ok=True)
    store = open_database(settings.resolved_database_url, migrate=settings.migrate_on_start)
    artifacts = open_artifacts(settings)
    catalog = FlavorCatalog()
    publisher = Publisher(store, artifacts, catalog, max_artifact_bytes=settings.max_upload_bytes)
    entities = SqlEntityStore(store.engine)
    endpoints = EndpointService(store, SqlEndpointStore(store.engine), entities)
    profiles = SqlProfileStore(store.engine)
    record_store = SqlRecordStore(store.engine)
    journal_dir = settings.resolved_journal_dir
    alerts = SqlAlertStore(store.engine)
    record_stats = SqlRecordStats(store.engine)
    return Workspace(
        store=store,
        artifacts=artifacts,
        catalog=catalog,
        publisher=publisher,
        endpoints=endpoints,
        entities=entities,
        jobs=JobService(SqlJobStore(store.engine), installed_kinds()),
        profiles=profiles,
        records=RecordService(
            record_store,
            ExportFolder(open_exports(settings)),
            drain_journal=lambda at: wait_for_journal_before(journal_dir, at, ERASURE_WAIT_S),
            journal_pending=lambda: bool(segments(journal_dir)),
        ),
        alerts=alerts,
        monitor=MonitorService(record_store, record_stats, profiles, store, alerts),
        record_stats=record_stats,
        groups=SqlServingGroups(store.engine),
    )
