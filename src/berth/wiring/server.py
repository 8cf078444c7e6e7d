"""The composition root of a server: settings in, a running ASGI app out.

Everything a server holds is built here from constructor arguments (no globals): the workspace
(registry, artifacts, flavors, publisher), the thread pools, the model pool, the reconciler,
the data plane and the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.types import ASGIApp

from berth._version import __version__
from berth.control.alerts.destinations import DestinationPolicy, WebhookAllowList
from berth.control.canary import CanaryController
from berth.control.inbox_service import InboxService
from berth.control.record_export_jobs import ExportQuotas, RecordExports
from berth.core.request_ids import RequestIds
from berth.core.serving_groups import DEFAULT_GROUP, Role
from berth.core.settings import Settings
from berth.core.tracing import OFF, Tracing
from berth.dataplane.dataplane import SERVER_NAME, DataPlane, ServerInfo
from berth.dataplane.endpoint_inference import EndpointInference
from berth.dataplane.predictor import Predictor
from berth.dataplane.recording import PredictionRecorder, Recorder
from berth.dataplane.shadows import ShadowRunner
from berth.dataplane.step_sources import PooledCustomSteps, RegistryEntities
from berth.runtime.batching import BatchingConfig
from berth.runtime.features import OnlineFeatures
from berth.runtime.loader import VersionLoader
from berth.runtime.pool import ModelPool
from berth.runtime.preloaded import PreloadedRuntimes
from berth.runtime.reconciler import Reconciler
from berth.runtime.serving_scope import NOTHING_LOADED, ServingScope
from berth.runtime.variant_stats import TrafficStats
from berth.server.auth.permissions import check_routes_declared
from berth.server.auth.security import Security, open_security
from berth.server.deprecation_notices import DeprecationNotices
from berth.server.failure_recording import RecordingFailures
from berth.server.grpc.server import GrpcEndpoint, GrpcLimits
from berth.server.journal_health import JournalHealth
from berth.server.metrics.requests import NoRequestMetrics, RequestCounter
from berth.server.metrics.server_metrics import ServerMetrics
from berth.server.metrics.sources import watch_serving
from berth.server.monitor_supervisor import MonitorSupervisor
from berth.server.offload import INLINE, Offload
from berth.server.replica_heartbeat import ReplicaHeartbeat
from berth.server.rest.access_request_routes import access_request_router
from berth.server.rest.alert_routes import alert_router
from berth.server.rest.body_limit import BodyLimit
from berth.server.rest.catalog_routes import catalog_router
from berth.server.rest.consumer_routes import consumer_router
from berth.server.rest.docs_routes import docs_router
from berth.server.rest.endpoint_routes import endpoint_router
from berth.server.rest.errors import install_error_handlers
from berth.server.rest.fast_path import FastInference
from berth.server.rest.feature_routes import feature_router
from berth.server.rest.group_routes import group_router
from berth.server.rest.inbox_routes import inbox_router
from berth.server.rest.inference import RestInference
from berth.server.rest.job_routes import job_router
from berth.server.rest.management_routes import management_router
from berth.server.rest.metrics_routes import metrics_public, metrics_router
from berth.server.rest.monitor_routes import monitor_router
from berth.server.rest.oip_routes import oip_router
from berth.server.rest.permission_routes import permission_router
from berth.server.rest.profile_routes import profile_router
from berth.server.rest.record_routes import record_router
from berth.server.rest.repository_routes import repository_router
from berth.server.rest.request_layer import RequestLayer
from berth.server.rest.security_routes import security_router
from berth.server.rest.tracing_layer import TracingLayer
from berth.server.rest.ui_routes import ui_files, ui_router
from berth.server.rest.v1_routes import v1_router
from berth.server.usage_meter import NO_USAGE, Observed, UsageCounter, UsageMeter, no_team
from berth.storage.journal import JournalWriter
from berth.storage.notifications import ChangeListener, supports_notifications
from berth.storage.sql_serving_groups import SqlServingGroups
from berth.wiring.export_worker import ExportWorker
from berth.wiring.implementations import record_stream
from berth.wiring.tracing import open_tracing
from berth.wiring.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from berth.dataplane.stream_recording import StreamRecorder
    from berth.storage.record_stream import StreamTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """What a running server is made of."""

    settings: Settings
    workspace: Workspace
    pool: ModelPool
    reconciler: Reconciler
    dataplane: DataPlane
    predict_executor: ThreadPoolExecutor
    io_executor: ThreadPoolExecutor
    inference: RestInference
    traffic: TrafficStats
    shadows: ShadowRunner
    canary: CanaryController
    metrics: ServerMetrics
    request_ids: RequestIds
    grpc: GrpcEndpoint | None = None
    listener: ChangeListener | None = None
    security: Security | None = None
    recorder: PredictionRecorder | None = None
    monitor: MonitorSupervisor | None = None
    exports: ExportWorker | None = None
    offload: Offload = INLINE
    """Where large request bodies are decoded, off the event loop (`berth.server.offload`)."""
    journal_health: JournalHealth | None = None
    heartbeat: ReplicaHeartbeat | None = None
    """What this replica serves, reported to the registry (serving groups; role data)."""
    tracing: Tracing = OFF
    """Spans of this process (off unless BERTH_OTLP_ENDPOINT is set; `berth.wiring.tracing`)."""
    usage: UsageMeter | None = None
    """Calls counted per caller, flushed to the registry (serving roles; docs/consumers.md)."""
    notices: DeprecationNotices | None = None
    """The deprecation headers answers carry (serving roles)."""
    features: OnlineFeatures | None = None
    """The feature views' look-ups of `features` steps (their stores' connections)."""

    @property
    def role(self) -> Role:
        return Role(self.settings.role)

    async def start(self) -> None:
        if self.monitor is not None:
            self.monitor.start()
        if self.exports is not None:
            self.exports.start()
        if self.recorder is not None:
            await self.recorder.start()
        if self.journal_health is not None:
            await self.journal_health.start()
        if self.security is not None:
            await self.security.start()
        await self.reconciler.start()
        if self.features is not None:
            await self.features.warm()  # before ready: a request's read is not also a connection
        if self.notices is not None:
            await self.notices.start()
        if self.usage is not None:
            await self.usage.start()
        if self.listener is not None:
            loop = asyncio.get_running_loop()
            reconciler = self.reconciler

            def changed() -> None:
                loop.call_soon_threadsafe(reconciler.wake)

            self.listener.start(changed)
        await self.canary.start()
        await self.metrics.start()
        if self.grpc is not None:
            await self.grpc.start()
        if self.heartbeat is not None:
            await self.heartbeat.start()
        # The models and libraries loaded so far live as long as the process: move them out of the
        # collector's reach, so full collections stay short under load (tail latency).
        gc.freeze()
        log.info("berth ready: %d models", len(self.reconciler.table.models))

    async def stop(self) -> None:
        if self.heartbeat is not None:
            await self.heartbeat.stop()  # first: the gateway stops sending requests here
        if self.grpc is not None:
            await self.grpc.stop()
        await self.canary.stop()
        await self.metrics.stop()
        if self.listener is not None:
            self.listener.stop()
        if self.usage is not None:
            await self.usage.stop()  # flushes what it counted
        if self.notices is not None:
            await self.notices.stop()
        await self.reconciler.stop()
        await self.shadows.close()
        if self.journal_health is not None:
            await self.journal_health.stop()
        if self.recorder is not None:
            await self.recorder.close()
        if self.monitor is not None:
            self.monitor.stop_watching()
            await asyncio.get_running_loop().run_in_executor(self.io_executor, self.monitor.stop)
        if self.exports is not None:
            await asyncio.get_running_loop().run_in_executor(self.io_executor, self.exports.stop)
        if self.security is not None:
            await self.security.stop()
        await self.pool.close()
        if self.features is not None:
            await self.features.aclose()
        self.predict_executor.shutdown(wait=True)
        self.io_executor.shutdown(wait=True)
        self.offload.close()
        if self.security is not None:
            self.security.close()
        self.workspace.close()
        self.tracing.close()


def build_server(
    settings: Settings, *, tracing: Tracing | None = None, preloaded: PreloadedRuntimes | None = None
) -> Server:
    """A server of `settings`; `tracing` overrides the settings' (tests: an in-memory exporter);
    `preloaded`: the models a parent process loaded before forking this worker."""
    tracing = tracing if tracing is not None else open_tracing(settings, process="server")
    workspace = open_workspace(settings)
    io_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="berth-io")
    try:
        security = open_security(settings, io_executor)
    except BaseException:
        io_executor.shutdown()
        workspace.close()
        raise
    metrics = ServerMetrics.from_environment(enabled=settings.metrics)
    request_ids = RequestIds()
    predict_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="berth-predict")
    offload = Offload(settings.decode_process_bytes)
    batching = BatchingConfig(
        enabled=settings.batching,
        max_batch_size=settings.max_batch_size,
        max_latency_ms=settings.max_batch_latency_ms,
    )
    loader = VersionLoader(
        workspace.artifacts,
        workspace.catalog,
        predict_executor,
        batching,
        metrics.batch_observer,
        preloaded=preloaded,
    )
    pool = ModelPool(loader, io_executor, max_loaded=settings.max_loaded_versions)
    role = Role(settings.role)
    heartbeats: list[ReplicaHeartbeat] = []

    def names_served(names: Mapping[str, str]) -> None:
        metrics.names_served(names)
        for heartbeat in heartbeats:
            heartbeat.poke()

    reconciler = Reconciler(
        workspace.store,
        pool,
        io_executor,
        poll_interval_s=settings.poll_interval_s,
        preload=settings.preload,
        names_served=names_served,
        scope=serving_scope(settings),
        ready_by_group=partial(ready_by_group, workspace.groups, timedelta(seconds=settings.replica_ttl_s)),
    )
    traffic = TrafficStats()
    shadows = ShadowRunner(traffic, dropped=metrics.shadow_dropped, tracing=tracing)
    watch_serving(metrics.gauges, pool, shadows)
    stream = record_stream(settings)
    recorder: PredictionRecorder | None = None
    monitor: MonitorSupervisor | None = None
    journal_health: JournalHealth | None = None
    recording_problems: Callable[[], list[str]] | None = None
    if role is not Role.API and settings.record_predictions and stream is None:
        journal = _journal_recorder(settings)
        monitor = MonitorSupervisor(settings, on_restart=metrics.monitor_restarted, journal=True)
        journal_health = _journal_health(settings, journal, monitor, workspace, io_executor)
        health = journal_health
        metrics.gauges.record_writer_lag.watch(lambda: health.backlog.oldest_unread_s)
        metrics.gauges.record_journal_bytes.watch(lambda: health.backlog.bytes_behind)
        recorder, recording_problems = journal, journal_health.problems
    elif role is not Role.API and settings.record_predictions and stream is not None:
        streamed = _stream_recorder(settings, stream)
        recorder, recording_problems = streamed, streamed.problems
        if role is Role.ALL:  # one machine: its own drainer; a data replica's records go to the monitor role
            monitor = MonitorSupervisor(settings, on_restart=metrics.monitor_restarted)
    if recorder is not None:
        metrics.gauges.record_queue_depth.watch(recorder.queue_depth)
    table = reconciler.current_table
    predictor = Predictor(
        pool, timeout_s=settings.request_timeout_s, max_elements=settings.max_tensor_elements, tracing=tracing
    )
    features = OnlineFeatures(
        workspace.feature_views.list_views,
        workspace.feature_stores(io_executor),
        io_executor,
        refresh_s=settings.poll_interval_s,
        observer=metrics.features,
    )
    endpoint_inference = EndpointInference(
        table,
        predictor,
        traffic,
        shadows,
        RegistryEntities(workspace.entities, io_executor),
        PooledCustomSteps(lambda m, r: table().resolve(m, r), pool, predict_executor),
        recorder,
        tracing,
        features=features,
    )
    dataplane = DataPlane(
        reconciler,
        pool,
        ServerInfo(SERVER_NAME, __version__, extensions=("binary_tensor_data", "model_repository")),
        predictor,
        endpoint_inference,
        recorder,
        recording_problems,
    )
    canary = CanaryController(workspace.endpoints, traffic, table, io_executor)
    usage: UsageMeter | None = None
    notices: DeprecationNotices | None = None
    if role.serves:
        cache = security.cache
        usage = UsageMeter(
            workspace.consumers.add_usage,
            io_executor,
            team_of=cache.consumer_team if cache is not None else no_team,
            flush_s=settings.usage_flush_s,
        )
        notices = DeprecationNotices(
            workspace.consumers.all_deprecations,
            io_executor,
            lambda: reconciler.table.generation,
            refresh_s=settings.poll_interval_s,
        )
    listener = None
    if supports_notifications(settings.resolved_database_url):
        listener = ChangeListener(settings.resolved_database_url)
    grpc = None
    if settings.grpc_port is not None and role is not Role.API:
        grpc = GrpcEndpoint(
            dataplane,
            settings.host,
            settings.grpc_port,
            max_message_bytes=settings.max_body_bytes,
            shared_port=settings.worker_count > 1,
            security=security.grpc(),
            requests=request_counter(metrics, recorder, "grpc"),
            usage=usage or NO_USAGE,
            notices=notices,
            request_ids=request_ids,
            limits=GrpcLimits(
                max_tensors=settings.max_request_tensors,
                offload=offload,
                max_connections=settings.max_connections,
                max_concurrent_streams=settings.grpc_max_concurrent_streams,
                handshake_timeout_s=settings.header_timeout_s,
                idle_timeout_s=settings.grpc_idle_timeout_s,
            ),
            tracing=tracing,
        )
    inference = RestInference(
        dataplane,
        max_body_bytes=settings.max_body_bytes,
        max_tensors=settings.max_request_tensors,
        max_elements=settings.max_tensor_elements,
        record_bulk_rows=settings.record_bulk_rows,
        offload=offload,
        notices=notices,
    )
    return Server(
        settings=settings,
        workspace=workspace,
        pool=pool,
        reconciler=reconciler,
        dataplane=dataplane,
        predict_executor=predict_executor,
        io_executor=io_executor,
        inference=inference,
        traffic=traffic,
        shadows=shadows,
        canary=canary,
        metrics=metrics,
        request_ids=request_ids,
        grpc=grpc,
        listener=listener,
        security=security,
        recorder=recorder,
        monitor=monitor,
        exports=(
            ExportWorker(workspace, settings.home, tracing=tracing)
            if settings.export_worker and role.manages
            else None
        ),
        offload=offload,
        journal_health=journal_health,
        heartbeat=_heartbeat(settings, workspace, reconciler, io_executor, heartbeats),
        tracing=tracing,
        usage=usage,
        notices=notices,
        features=features,
    )


def serving_scope(settings: Settings) -> ServingScope:
    """What a server of these settings loads: its group's models, every model, or none (API role)."""
    role = Role(settings.role)
    if role is Role.API:
        return NOTHING_LOADED
    if role is Role.DATA:
        return ServingScope(group=settings.serving_group or DEFAULT_GROUP)
    return ServingScope(group=settings.serving_group)


def ready_by_group(groups: SqlServingGroups, ttl: timedelta) -> dict[str, frozenset[str]]:
    """What the live replicas of each serving group have ready (a replica of every group counts for none)."""
    ready: dict[str, frozenset[str]] = {}
    for replica in groups.replicas(live_within=ttl):
        if replica.group is not None:
            ready[replica.group] = ready.get(replica.group, frozenset()) | replica.ready
    return ready


def _heartbeat(
    settings: Settings,
    workspace: Workspace,
    reconciler: Reconciler,
    io_executor: ThreadPoolExecutor,
    heartbeats: list[ReplicaHeartbeat],
) -> ReplicaHeartbeat | None:
    """A serving replica of a group reports what it serves (the gateway routes by it)."""
    scope = serving_scope(settings)
    if scope.group is None or not scope.loads:
        return None
    scheme = "https" if settings.tls_cert is not None else "http"
    heartbeat = ReplicaHeartbeat(
        workspace.groups,
        reconciler.current_table,
        io_executor,
        role=Role(settings.role),
        group=scope.group,
        url=settings.advertise_url or f"{scheme}://{settings.host}:{settings.port}",
        grpc_url=advertised_grpc(settings),
        interval_s=settings.heartbeat_interval_s,
        ready=lambda: reconciler.synced,
    )
    heartbeats.append(heartbeat)
    return heartbeat


def advertised_grpc(settings: Settings) -> str | None:
    """``host:port`` where the gateway reaches this replica's gRPC port, or None without one."""
    if settings.grpc_port is None:
        return None
    if settings.advertise_grpc is not None:
        return settings.advertise_grpc
    host = urlsplit(settings.advertise_url).hostname if settings.advertise_url else None
    host = host or settings.host
    return f"[{host}]:{settings.grpc_port}" if ":" in host else f"{host}:{settings.grpc_port}"


def _journal_health(
    settings: Settings,
    recorder: Recorder,
    monitor: MonitorSupervisor,
    workspace: Workspace,
    io_executor: ThreadPoolExecutor,
) -> JournalHealth:
    store = workspace.records.store

    def ingested() -> dict[str, int]:
        return {name: position.offset for name, position in store.journal_positions().items()}

    return JournalHealth(settings, recorder, monitor, ingested, io_executor)


def _stream_recorder(settings: Settings, stream: StreamTarget) -> StreamRecorder:
    """Records published to the record stream (nats-py is imported only where one is configured)."""
    from berth.dataplane.stream_recording import StreamRecorder
    from berth.storage.record_stream import StreamConnection

    connection = StreamConnection(
        stream,
        duplicate_window_s=settings.record_stream_duplicate_window_s,
        name=f"berth-{settings.role}-{os.getpid()}",
    )
    return StreamRecorder(
        connection,
        durability=settings.record_durability,
        sampling=settings.record_sampling,
        endpoint_sampling=settings.record_sampling_endpoints,
        publish_timeout_s=settings.record_publish_timeout_s,
    )


def _journal_recorder(settings: Settings) -> Recorder:
    writer = JournalWriter(settings.resolved_journal_dir, rotate_s=settings.journal_rotate_s)
    return Recorder(
        writer,
        durability=settings.record_durability,
        sync_interval_s=settings.journal_sync_interval_s,
        sampling=settings.record_sampling,
        endpoint_sampling=settings.record_sampling_endpoints,
        rotate_s=settings.journal_rotate_s,
    )


def request_counter(
    metrics: ServerMetrics, recorder: PredictionRecorder | None, protocol: str
) -> RequestCounter:
    """What a transport counts each inference request with: the metrics, and failed requests
    journaled for error rates when predictions are recorded."""
    counter = metrics.requests(protocol)
    if recorder is not None:
        return RecordingFailures(counter, recorder)
    # the usage meter reads what answered from the request's observation, metrics off too
    return Observed(counter) if isinstance(counter, NoRequestMetrics) else counter


def create_asgi(server: Server) -> ASGIApp:
    """What a server process runs: the request's span (tracing on), the request id (and access
    log), the body limit (counted as bytes arrive, `berth.server.rest.body_limit`), the auth layer,
    then the inference fast path, then the app."""
    app = create_app(server)
    fast = FastInference(
        app, server.inference, request_counter(server.metrics, server.recorder, "rest"), _usage(server)
    )
    if server.security is None:
        raise RuntimeError("a server is built with its security (build_server)")
    authenticated = server.security.asgi_layer(fast, app)
    limited = BodyLimit(
        authenticated,
        max_body_bytes=server.settings.max_body_bytes,
        max_upload_bytes=server.settings.max_upload_bytes,
    )
    app_with_ids = RequestLayer(limited, server.request_ids, log_access=server.settings.access_log)
    if not server.tracing.on:
        return app_with_ids  # off: no layer at all, not even a check per request
    return TracingLayer(app_with_ids, server.tracing)


def create_app(server: Server) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    settings = server.settings
    app = FastAPI(
        title="berth",
        version=__version__,
        summary="Model registry and model server: Open Inference Protocol V2 and a management API.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: these load them from here
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # berth takes bearer tokens: no OAuth2 flow to finish
    )
    install_error_handlers(app)
    app.include_router(docs_router(app.title, app.openapi_url or "/openapi.json"))
    metrics = server.metrics
    app.include_router(
        oip_router(
            server.dataplane,
            server.inference,
            request_counter(metrics, server.recorder, "rest"),
            _usage(server),
        )
    )
    if metrics.enabled:
        app.include_router(metrics_router(metrics, open_to_all=metrics_public(settings)))
    if server.role.serves:
        _include_data_plane(app, server)
    if server.role.manages:
        _include_management(app, server)
    check_routes_declared(app)  # a route without a permission declaration never serves
    return app


def _include_data_plane(app: FastAPI, server: Server) -> None:
    """Inference beyond OIP's own routes: the model repository extension and the /v1 protocol."""
    settings = server.settings
    app.include_router(repository_router(server.dataplane, max_body_bytes=settings.max_body_bytes))
    app.include_router(
        v1_router(
            server.dataplane,
            max_body_bytes=settings.max_body_bytes,
            requests=request_counter(server.metrics, server.recorder, "v1"),
            max_tensors=settings.max_request_tensors,
            offload=server.offload,
            usage=_usage(server),
            notices=server.notices,
        )
    )


def _usage(server: Server) -> UsageCounter:
    return server.usage if server.usage is not None else NO_USAGE


def _include_management(app: FastAPI, server: Server) -> None:
    """The management API (/api/v1) and the web app."""
    settings = server.settings
    app.include_router(profile_router(server.workspace.profiles))
    app.include_router(consumer_router(server.workspace.consumers, server.notices))
    quotas = ExportQuotas(
        max_running=settings.export_max_running,
        max_bytes=settings.export_max_bytes,
        retention=timedelta(hours=settings.export_retention_h),
    )
    wake = server.exports.wake if server.exports is not None else (lambda: None)
    exports = RecordExports(
        server.workspace.jobs,
        server.workspace.records.exports,
        quotas,
        on_enqueued=wake,
        view_of=server.workspace.features.get,
    )
    app.include_router(record_router(server.workspace.records, exports, server.workspace.entities))
    table = server.reconciler.current_table
    app.include_router(
        monitor_router(
            server.workspace.monitor,
            lambda n: n in table().endpoints or n in table().models or n in table().elsewhere,
        )
    )
    destinations = DestinationPolicy(WebhookAllowList.parse(settings.webhook_allow))
    app.include_router(
        alert_router(server.workspace.alerts, destinations, server.workspace.monitor.served_views)
    )
    inbox = InboxService(server.workspace.inbox, server.workspace.records, server.workspace.inbox.team_exists)
    app.include_router(inbox_router(inbox, destinations))
    app.include_router(
        management_router(
            server.workspace.store,
            server.workspace.publisher,
            server.workspace.artifacts,
            server.reconciler,
            server.pool,
            max_upload_bytes=settings.max_upload_bytes,
            upload_suffixes=server.workspace.catalog.file_suffixes(),
        )
    )
    app.include_router(
        endpoint_router(
            server.workspace.endpoints, server.workspace.entities, server.reconciler, server.traffic
        )
    )
    app.include_router(catalog_router(server.workspace.catalog_store))
    app.include_router(
        feature_router(server.workspace.features, server.workspace.entities, server.workspace.jobs)
    )
    app.include_router(job_router(server.workspace.jobs, server.workspace.alerts, server.tracing))
    app.include_router(
        group_router(server.workspace.groups, replica_ttl=timedelta(seconds=settings.replica_ttl_s))
    )
    app.include_router(permission_router())
    app.include_router(ui_router(ui_files()))
    if server.security is not None:
        app.include_router(security_router(server.security.store, server.security.audit))
        app.include_router(access_request_router(server.security.requests))
