"""A workspace: the registry store, the artifact store, the flavors and the publisher, opened from settings.

Both the server and the CLI's embedded mode (``--home``) open one, so a push from the CLI and a
push through the server take the same path into the same storage. Opening one connects the
registry database (migrating it if the settings say so); every other part is built, and its
modules imported, when first used: ``berth models list --home`` needs no flavor, monitoring or
job module, and pays for none.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.protocols import RegistryStore
from berth.wiring.implementations import open_database

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor

    from berth.control.endpoints import EndpointService
    from berth.control.feature_views import FeatureService
    from berth.control.jobs.service import JobService
    from berth.control.monitor_service import MonitorService
    from berth.control.publishing import Publisher
    from berth.control.record_service import RecordService
    from berth.core.features import FeatureView
    from berth.runtime.flavors.catalog import FlavorCatalog
    from berth.storage.batch_data import BatchData
    from berth.storage.consumer_protocols import ConsumerStore
    from berth.storage.feature_protocols import FeatureHistory, FeatureViewStore, OnlineStore
    from berth.storage.feature_sources import FeatureSourceRules
    from berth.storage.profile_protocols import ProfileStore
    from berth.storage.protocols import ArtifactStore, EntityStore
    from berth.storage.sql_alerts import SqlAlertStore
    from berth.storage.sql_catalog import SqlCatalogStore
    from berth.storage.sql_inbox import SqlInbox
    from berth.storage.sql_record_stats import SqlRecordStats
    from berth.storage.sql_records import SqlRecordStore
    from berth.storage.sql_registry import SqlRegistryStore
    from berth.storage.sql_serving_groups import SqlServingGroups
    from berth.wiring.implementations import HistoryIO

ERASURE_WAIT_S = 15.0
"""How long erasing an entity waits for this host's journal to be ingested (rotation + ingestion)."""
JOURNAL_CATCH_UP_S = 15.0
"""How long feedback naming ids the database does not hold yet waits for the ingester to catch up
with this host's journal before it reports them unknown."""


class Workspace:
    """The stores and services of one registry database, each built on first use."""

    def __init__(self, settings: Settings, store: SqlRegistryStore) -> None:
        self._settings = settings
        self.store: RegistryStore = store
        self._engine = store.engine  # the one every other table shares

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from berth.wiring.implementations import open_artifacts

        return open_artifacts(self._settings)

    @cached_property
    def batch_data(self) -> BatchData:
        from berth.wiring.implementations import open_batch_data

        return open_batch_data(self._settings)

    @cached_property
    def catalog(self) -> FlavorCatalog:
        from berth.runtime.flavors.catalog import FlavorCatalog

        return FlavorCatalog()

    @cached_property
    def publisher(self) -> Publisher:
        from berth.control.publishing import Publisher

        return Publisher(
            self.store, self.artifacts, self.catalog, max_artifact_bytes=self._settings.max_upload_bytes
        )

    @cached_property
    def entities(self) -> EntityStore:
        from berth.storage.sql_entities import SqlEntityStore

        return SqlEntityStore(self._engine)

    @cached_property
    def endpoints(self) -> EndpointService:
        from berth.control.endpoints import EndpointService
        from berth.storage.sql_endpoints import SqlEndpointStore

        return EndpointService(
            self.store, SqlEndpointStore(self._engine), self.entities, views=self.feature_views
        )

    @cached_property
    def feature_views(self) -> FeatureViewStore:
        from berth.storage.sql_feature_views import SqlFeatureViewStore

        return SqlFeatureViewStore(self._engine)

    def feature_stores(self, executor: Executor | None = None) -> Callable[[str], OnlineStore]:
        """What builds a view's online store from its source URI (`implementations.FEATURE_STORES`)."""
        from berth.wiring.implementations import FeatureIO, feature_stores

        return feature_stores(FeatureIO(self._engine, self._feature_source_rules, executor))

    @cached_property
    def features(self) -> FeatureService:
        from berth.control.feature_views import FeatureService
        from berth.wiring.implementations import check_feature_history

        return FeatureService(
            self.feature_views,
            self.feature_stores(),
            self.endpoints.feature_view_readers,
            check_offline=lambda view: check_feature_history(view, self._history_io),
        )

    def feature_history(self, view: FeatureView) -> FeatureHistory:
        """The offline history `view` declares (`implementations.FEATURE_HISTORIES`)."""
        from berth.wiring.implementations import open_feature_history

        return open_feature_history(view, self._history_io)

    @property
    def _history_io(self) -> HistoryIO:
        from berth.wiring.implementations import HistoryIO

        return HistoryIO(self._settings.home, lambda: self.batch_data, self._feature_source_rules)

    @cached_property
    def _feature_source_rules(self) -> FeatureSourceRules:
        from berth.storage.feature_sources import FeatureSourceRules

        try:
            return FeatureSourceRules.parse(self._settings.feature_source_allow)
        except ValueError as exc:
            raise BerthError(ErrorCode.INVALID_REQUEST, str(exc)) from None

    @cached_property
    def jobs(self) -> JobService:
        from berth.control.jobs.service import JobService
        from berth.storage.sql_jobs import SqlJobStore
        from berth.wiring.job_kinds import installed_kinds

        return JobService(SqlJobStore(self._engine), installed_kinds(), home=self._settings.home)

    @cached_property
    def consumers(self) -> ConsumerStore:
        from berth.storage.sql_consumers import SqlConsumerStore

        return SqlConsumerStore(self._engine)

    @cached_property
    def catalog_store(self) -> SqlCatalogStore:
        """The catalog every team searches (not the flavors: `catalog`)."""
        from berth.storage.sql_catalog import SqlCatalogStore

        return SqlCatalogStore(self._engine)

    @cached_property
    def profiles(self) -> ProfileStore:
        from berth.storage.sql_profiles import SqlProfileStore

        return SqlProfileStore(self._engine)

    @cached_property
    def records(self) -> RecordService:
        from berth.control.record_exports import ExportFolder
        from berth.control.record_service import RecordService
        from berth.storage.journal import catch_up_with_journal, wait_for_journal_before
        from berth.wiring.implementations import open_exports, text_embedder

        journal_dir = self._settings.resolved_journal_dir
        store = self._record_store

        def positions() -> dict[str, int]:
            return {name: p.offset for name, p in store.journal_positions().items()}

        return RecordService(
            store,
            ExportFolder(open_exports(self._settings)),
            drain_journal=lambda at: wait_for_journal_before(journal_dir, at, ERASURE_WAIT_S),
            catch_up_journal=lambda: catch_up_with_journal(journal_dir, positions, JOURNAL_CATCH_UP_S),
            embed=text_embedder(),
        )

    @cached_property
    def alerts(self) -> SqlAlertStore:
        from berth.storage.sql_alerts import SqlAlertStore

        return SqlAlertStore(self._engine)

    @cached_property
    def inbox(self) -> SqlInbox:
        from berth.storage.sql_inbox import SqlInbox

        return SqlInbox(self._engine)

    @cached_property
    def monitor(self) -> MonitorService:
        from berth.control.monitor_service import MonitorService
        from berth.control.served_features import ServedFeatures
        from berth.storage.sql_endpoints import SqlEndpointStore

        return MonitorService(
            self._record_store,
            self.record_stats,
            self.profiles,
            self.store,
            self.alerts,
            served_features=ServedFeatures(SqlEndpointStore(self._engine), self.features),
        )

    @cached_property
    def record_stats(self) -> SqlRecordStats:
        from berth.storage.sql_record_stats import SqlRecordStats

        return SqlRecordStats(self._engine)

    @cached_property
    def groups(self) -> SqlServingGroups:
        from berth.storage.sql_serving_groups import SqlServingGroups

        return SqlServingGroups(self._engine)

    @cached_property
    def _record_store(self) -> SqlRecordStore:
        from berth.storage.sql_records import SqlRecordStore

        return SqlRecordStore(self._engine)

    def close(self) -> None:
        self.store.close()


def open_workspace(settings: Settings) -> Workspace:
    settings.home.mkdir(parents=True, exist_ok=True)
    return Workspace(
        settings, open_database(settings.resolved_database_url, migrate=settings.migrate_on_start)
    )
