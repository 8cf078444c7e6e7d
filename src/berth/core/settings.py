"""Typed settings, read from ``BERTH_*`` environment variables and command-line overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a berth process can be configured with. Every field has a type, a default and a doc."""

    model_config = SettingsConfigDict(env_prefix="BERTH_", extra="ignore")

    home: Path = Field(Path(".berth"), description="berth home folder: the embedded database and artifacts.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the registry database; default: SQLite in the home folder."
    )
    migrate_on_start: bool = Field(
        True,
        description="Migrate the database to the newest schema when a process opens it; false: refuse to"
        " start until `berth db upgrade` (a one-off job) has.",
    )
    artifact_uri: str | None = Field(
        None,
        description="Where artifacts are stored: file:///path, or s3://bucket/prefix (any S3 API);"
        " default: <home>/artifacts.",
    )
    artifact_cache_dir: Path | None = Field(
        None,
        description="Local read-through cache of artifacts kept in object storage; default: <home>/cache.",
    )
    artifact_cache_bytes: int = Field(
        20 * 1024**3, gt=0, description="Most bytes the artifact cache keeps (least recently used go first)."
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 API endpoint (MinIO, Ceph, ...); default: AWS, or the standard AWS_ENDPOINT_URL."
        " Credentials and region otherwise come from the standard AWS environment and profile.",
    )
    s3_region: str | None = Field(None, description="S3 region; default: the standard AWS chain.")
    s3_sse: str | None = Field(
        None, description="Server-side encryption of objects berth writes: AES256, aws:kms or aws:kms:dsse."
    )
    s3_sse_kms_key_id: str | None = Field(None, description="The KMS key of aws:kms encryption.")
    s3_multipart_threshold_bytes: int = Field(
        64 * 1024**2,
        ge=5 * 1024**2,
        description="Artifacts at least this large go to object storage in parts (multipart upload).",
    )
    batch_s3_allow: str = Field(
        "",
        description="S3 locations batch-score jobs may read and write (comma-separated"
        " s3://bucket[/prefix], reached with the s3_* settings and the standard AWS credentials);"
        " empty: jobs reach no s3:// location. Never the artifacts' or exports' prefix for output.",
    )
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8080, ge=0, le=65535, description="REST port of the server.")
    grpc_port: int | None = Field(None, ge=0, le=65535, description="gRPC port; none = no gRPC.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest request body accepted, in bytes."
    )
    max_upload_bytes: int = Field(
        2 * 1024 * 1024 * 1024, gt=0, description="Largest artifact upload accepted, in bytes."
    )
    max_request_tensors: int = Field(
        1024,
        gt=0,
        description="Most inputs (and, separately, requested outputs) one inference request may name;"
        " more is refused with too_many_tensors before any tensor is decoded.",
    )
    decode_process_bytes: int = Field(
        128 * 1024,
        ge=0,
        description="Inference bodies larger than this are decoded in a worker process, off the event"
        " loop and its GIL (0: every body).",
    )
    max_connections: int = Field(
        1000,
        gt=0,
        description="Most open HTTP connections per server process (capped below the open-file limit);"
        " past it a new connection replaces the oldest one that has no request in progress, or is closed.",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest a client may take to send a request's headers (from the connection, or the"
        " end of its previous request) before it is answered 408 client_too_slow and disconnected"
        " (slowloris).",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest a client may take to send a whole request body (artifact uploads: the"
        " upload timeout) before it is disconnected.",
    )
    upload_timeout_s: float = Field(
        900.0, gt=0, description="Longest a client may take to send a whole artifact upload."
    )
    grpc_max_concurrent_streams: int = Field(
        1000,
        gt=0,
        description="Most gRPC calls in flight on one connection (HTTP/2 concurrent streams). gRPC"
        " counts a call until the server has released it, some time after its answer was sent: keep"
        " this well above the calls a client runs at once on one channel (at 100, 64 callers of one"
        " channel were refused streams, UNAVAILABLE).",
    )
    grpc_idle_timeout_s: float = Field(
        300.0, gt=0, description="A gRPC connection without calls for this long is closed."
    )
    poll_interval_s: float = Field(
        0.5, gt=0, description="How often a server checks the registry for changes, in seconds."
    )
    preload: bool = Field(True, description="Load every model's aliased and latest versions at start.")
    usage_flush_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often a server adds the calls it counted per caller to the registry (consumers).",
    )
    # roles and serving groups (docs/scaling.md)
    role: Literal["all", "data", "api", "gateway", "monitor"] = Field(
        "all",
        description="What this server does: all (one machine), data (inference for one serving group),"
        " api (management API and web app, loads no model), gateway (the one address callers use) or"
        " monitor (records into the record store, alert rules; health endpoints only).",
    )
    serving_group: str | None = Field(
        None,
        description="The serving group whose models this server loads (role data: default 'default');"
        " none with role all: every model.",
    )
    advertise_url: str | None = Field(
        None,
        description="The URL the gateway reaches this replica at (role data; on Kubernetes the pod's"
        " address); default: http://<host>:<port>.",
    )
    advertise_grpc: str | None = Field(
        None,
        description="host:port where the gateway reaches this replica's gRPC port (role data, with"
        " grpc_port); default: the host of advertise_url (or host) and grpc_port.",
    )
    heartbeat_interval_s: float = Field(
        1.0, gt=0, description="How often a serving replica reports what it has ready, in seconds."
    )
    replica_ttl_s: float = Field(
        5.0,
        gt=0,
        description="A replica silent for this long is taken as gone (the gateway routes around it).",
    )
    api_url: str | None = Field(
        None,
        description="Role gateway: where management calls (/api/v1, the web app) go; none: answered"
        " with 404 route_not_found.",
    )
    group_url_template: str | None = Field(
        None,
        description="Role gateway: send a group's requests to this URL ({group} replaced, e.g. a"
        " Kubernetes Service http://berth-data-{group}:8080) instead of to the replicas' own URLs.",
    )
    group_grpc_template: str | None = Field(
        None,
        description="Role gateway: send a group's gRPC calls to this host:port ({group} replaced, e.g."
        " berth-data-{group}:8081) instead of to the replicas' own gRPC addresses.",
    )
    max_loaded_versions: int = Field(
        64, gt=0, description="Most versions held in memory at once; the least recently used are unloaded."
    )
    batching: bool = Field(True, description="Batch concurrent requests to one version into one predict.")
    max_batch_size: int = Field(64, gt=0, description="Most rows in one batch (a version may set its own).")
    max_batch_latency_ms: float = Field(
        2.0,
        ge=0,
        description="Most a batch waits for more rows under load (at most a quarter of the model's "
        "measured batch time; an idle version never waits; 0: never wait).",
    )
    workers: int = Field(
        1,
        ge=0,
        le=64,
        description="Server processes sharing the ports (0: one per CPU core, at most 4). More "
        "workers answer more requests per second on several cores. The models served at start "
        "are loaded once, before the workers are forked, and shared (fork-safe flavors, "
        "BERTH_FORK_WORKERS).",
    )
    fork_workers: bool = Field(
        True,
        description="With several workers: load the models once in a parent process and fork the "
        "workers, which share their memory (docs/scaling.md); false: each worker is a fresh "
        "interpreter that loads every model itself.",
    )
    log_level: str = Field("info", description="Log level of the server (debug, info, warning, error).")
    # observability (docs/metrics.md)
    log_format: str = Field(
        "text", description="Log lines: text (for a terminal) or json (one object per line, for production)."
    )
    access_log: bool = Field(
        False,
        description="Log one line per HTTP request (method, path, status, duration, request id, model).",
    )
    metrics: bool = Field(True, description="Count requests and serve Prometheus metrics on GET /metrics.")
    metrics_auth: str = Field(
        "auto",
        description="Who may read /metrics: public, token (a platform administrator's token) or auto "
        "(public when authentication is off, token when it is on).",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="Send traces (OpenTelemetry spans) to this OTLP/HTTP endpoint, e.g."
        " http://collector:4318/v1/traces; none: tracing off (no span is made). Needs berth-serving[otlp].",
    )
    trace_sample_ratio: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of requests traced when they come without a caller's traceparent (a caller's"
        " sampled flag is followed); jobs and webhook calls are always traced when tracing is on.",
    )
    # security (docs/security.md)
    auth: str = Field(
        "off",
        description="How callers authenticate: off, tokens (berth API tokens), oidc (JWTs of an "
        "identity provider) or tokens,oidc. Off is refused on a non-loopback address unless "
        "allow_insecure_bind.",
    )
    allow_insecure_bind: bool = Field(
        False, description="Serve without authentication on a non-loopback address anyway."
    )
    auth_refresh_s: float = Field(
        0.5,
        gt=0,
        le=1,
        description="How often a server checks for new, revoked or changed tokens, teams and grants.",
    )
    oidc_issuer: str | None = Field(None, description="The identity provider's issuer (the JWT 'iss').")
    oidc_audience: str | None = Field(None, description="The audience JWTs must name ('aud').")
    oidc_jwks: str | None = Field(
        None, description="The issuer's signing keys: a JWKS URL (https://…) or a JWKS file."
    )
    oidc_principal_claim: str = Field("sub", description="The JWT claim that names the principal.")
    tls_cert: Path | None = Field(None, description="PEM certificate: serve REST and gRPC over TLS.")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    rate_limit_rps: float = Field(
        0, ge=0, description="Requests per second per principal, per server process (0: no limit)."
    )
    rate_limit_burst: int = Field(
        0, ge=0, description="Requests a principal may send at once above the rate (0: one second's worth)."
    )
    request_timeout_s: float = Field(
        60.0, gt=0, description="Longest a prediction may take before it is answered REQUEST_TIMEOUT."
    )
    max_tensor_elements: int = Field(
        10_000_000, gt=0, description="Most elements (all input tensors together) of one inference request."
    )
    # prediction records (docs/records.md)
    record_predictions: bool = Field(
        True, description="Record every answered prediction (and shadow answer)."
    )
    record_durability: Literal["journal", "fsync", "none"] = Field(
        "journal",
        description="journal: a prediction is answered once its record is written to the local "
        "journal (survives kill -9), fsynced in the background every journal_sync_interval_s "
        "(group commit); fsync: once its record is fsynced (survives a power loss; every request "
        "waits for the disk); none: without waiting (a crash may lose the last records).",
    )
    record_sink: str = Field(
        "journal://",
        description="Where answered predictions are recorded before the record store: journal:// (a"
        " local journal, ingested by each server's monitor process) or nats://host:port[/STREAM]"
        " (NATS JetStream, acknowledged before the caller is answered; drained by `berth serve"
        " --role monitor`; docs/records.md).",
    )
    record_publish_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="With a nats:// record sink: longest a batch of records may wait for JetStream's"
        " acknowledgement before its callers are answered 503 recording_unavailable.",
    )
    record_stream_duplicate_window_s: float = Field(
        120.0,
        gt=0,
        description="With a nats:// record sink: how long JetStream keeps message ids to drop a"
        " republished record (the stream is created with it; an existing one must keep at least this).",
    )
    alert_interval_s: float = Field(
        60.0, ge=0, description="How often alert rules are evaluated, in seconds (0: never)."
    )
    feature_source_allow: str = Field(
        "",
        description="The servers feature views may name as their source or offline history "
        "(comma-separated scheme://host[:port], schemes redis, feast+http, feast+https, "
        "feast+flight; no port: every port of that host); empty: only embedded: sources and "
        "histories in the home or an allowed s3:// location (docs/features.md).",
    )
    webhook_allow: str = Field(
        "",
        description="Internal webhook receivers operators open (comma-separated CIDRs, addresses and "
        "host names; '.corp' allows every name under corp). Webhooks reach only public addresses "
        "otherwise: loopback, link-local, private, unique-local, multicast, reserved and "
        "carrier-grade NAT addresses are refused, judged on the addresses a name resolves to when "
        "the call is made (docs/alerts.md).",
    )
    delivery_interval_s: float = Field(
        0.5,
        ge=0,
        le=60,
        description="How often the monitor's deliverer looks for team-inbox messages due (0: no "
        "deliverer in this process); messages sent meanwhile wait in the inbox table (docs/endpoints.md).",
    )
    delivery_attempts: int = Field(
        8, ge=1, le=100, description="Attempts to deliver a message before it is dead-lettered."
    )
    delivery_backoff_s: float = Field(
        2.0, gt=0, le=3600, description="Wait after a message's first failed delivery; doubled after each."
    )
    delivery_max_backoff_s: float = Field(
        600.0, gt=0, description="The longest wait between two delivery attempts of a message."
    )
    delivery_nats: str | None = Field(
        None,
        description="The NATS JetStream team inboxes publish to: nats://host:port[/STREAM] (default "
        "stream BERTH_INBOX; a team's messages go to berth.inbox.<STREAM>.<its subject name>); none: "
        "teams' NATS subjects are not delivered (their messages are dead-lettered with the reason).",
    )
    export_worker: bool = Field(
        True,
        description="Run record exports in this server's own worker thread (off: only 'berth worker' "
        "processes sharing the berth home run them).",
    )
    export_uri: str | None = Field(
        None,
        description="Where record exports are kept: file:///path, or s3://bucket/prefix (any S3 API, with"
        " the s3_* settings); default: <artifact_uri>/exports when artifacts are in s3://, else"
        " <home>/exports.",
    )
    export_max_running: int = Field(
        2, ge=1, description="Record exports one principal may have queued or running at once."
    )
    export_max_bytes: int = Field(
        1 << 30,
        ge=0,
        description="Bytes of finished record exports one principal may keep on the server; a new "
        "export is refused (quota_exceeded) while the principal's exports hold this much.",
    )
    export_retention_h: float = Field(
        168.0,
        gt=0,
        description="Hours a record export is kept on the server; older export files are deleted.",
    )
    journal_sync_interval_s: float = Field(
        0.1,
        gt=0,
        le=10,
        description="How often the journal is fsynced in the background with durability 'journal' "
        "(the most a machine crash can lose).",
    )
    record_sampling: float = Field(1.0, ge=0, le=1, description="Share of the predictions recorded.")
    record_bulk_rows: int = Field(
        1000,
        ge=1,
        description="Most rows the record of a bulk (Arrow or Parquet) request keeps: its first rows of"
        " inputs and outputs, with the request's row count in each cut tensor's parameters ('rows').",
    )
    record_sampling_endpoints: dict[str, float] = Field(
        default_factory=dict,
        description="Share recorded per endpoint (or model) name, overriding record_sampling: "
        '{"churn": 0.1}.',
    )
    record_retention_days: float = Field(
        30, ge=0, description="Records older than this are deleted (hourly); 0: kept forever."
    )
    journal_dir: Path | None = Field(
        None, description="The prediction journal's folder; default: <home>/journal."
    )
    journal_rotate_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="A journal segment is closed (and then ingested and deleted) after this.",
    )
    ingest_interval_s: float = Field(
        0.2, gt=0, le=60, description="How often the ingester moves journal records into the database."
    )
    journal_stall_s: float = Field(
        300.0,
        gt=0,
        description="Readiness turns off while the oldest journal record not yet in the database is "
        "older than this (measured from the journal itself: a dead or stuck ingester shows).",
    )
    monitor_down_grace_s: float = Field(
        30.0,
        ge=0,
        description="Readiness turns off while the monitor process (ingester and alert rules) has "
        "been down longer than this (it is restarted meanwhile).",
    )
    monitor_restart_backoff_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Wait before the first restart of a monitor process that died; doubled for each "
        "death in a row, up to 60 s.",
    )

    @field_validator("record_sampling_endpoints")
    @classmethod
    def _sampling_shares(cls, value: dict[str, float]) -> dict[str, float]:
        if not all(0 <= share <= 1 for share in value.values()):
            raise ValueError("every record_sampling_endpoints share is between 0 and 1")
        return value

    @field_validator("serving_group")
    @classmethod
    def _serving_group(cls, value: str | None) -> str | None:
        from berth.core.serving_groups import check_group_name

        return None if value is None else check_group_name(value)

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("log_format is 'text' or 'json'")
        return value.lower()

    @field_validator("metrics_auth")
    @classmethod
    def _metrics_auth(cls, value: str) -> str:
        if value.lower() not in ("auto", "public", "token"):
            raise ValueError("metrics_auth is 'auto', 'public' or 'token'")
        return value.lower()

    @field_validator("auth")
    @classmethod
    def _auth_methods(cls, value: str) -> str:
        methods = {m.strip().lower() for m in value.split(",") if m.strip()}
        if not methods or not methods <= {"off", "tokens", "oidc"} or ("off" in methods and len(methods) > 1):
            raise ValueError("auth is 'off', 'tokens', 'oidc' or 'tokens,oidc'")
        return ",".join(sorted(methods))

    @property
    def auth_methods(self) -> frozenset[str]:
        """The authentication methods on: empty when auth is off."""
        return frozenset(self.auth.split(",")) - {"off"}

    @property
    def worker_count(self) -> int:
        """`workers`, with 0 resolved to one per CPU core (at most 4)."""
        return self.workers or max(1, min(os.cpu_count() or 1, 4))

    def as_environment(self) -> dict[str, str]:
        """These settings as ``BERTH_*`` variables, for worker processes to read back."""
        env = {}
        for name, value in self.model_dump().items():
            if isinstance(value, dict | list):
                env[f"BERTH_{name.upper()}"] = json.dumps(value)
            elif value is not None:
                env[f"BERTH_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return env

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'berth.db').resolve()}"

    @property
    def resolved_journal_dir(self) -> Path:
        return (self.journal_dir or self.home / "journal").resolve()

    @property
    def resolved_artifact_cache_dir(self) -> Path:
        return (self.artifact_cache_dir or self.home / "cache").resolve()

    @property
    def resolved_artifact_uri(self) -> str:
        if self.artifact_uri:
            return self.artifact_uri
        return (self.home / "artifacts").resolve().as_uri()

    @property
    def resolved_export_uri(self) -> str:
        """Exports follow artifacts into object storage (every replica reaches them there); on a
        local artifact store they stay in the home."""
        if self.export_uri:
            return self.export_uri
        artifacts = self.resolved_artifact_uri
        if artifacts.startswith("s3://"):
            return f"{artifacts.rstrip('/')}/exports"
        return (self.home / "exports").resolve().as_uri()
