"""The registry's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create exactly these."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# The migrations that made the check constraints (0001, 0002, 0006) gave them their full names, and
# the convention was applied again: in a migrated database they are ck_<table>_ck_<table>_<name>
# (ck_jobs_ck_jobs_progress_fraction, ck_versions_ck_versions_number_positive, ...), not the
# ck_<table>_<name> that `metadata.create_all` would give. Alembic's compare_metadata does not compare
# check constraints, so the schema test cannot see it: a migration that drops or changes one must use
# the migrated name, and a database must be made by the migrations, never by create_all.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite stores it as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: berth stores timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(*, nullable: bool = False) -> JSON:
    # none_as_null: Python None is stored as SQL NULL, never as the JSON text 'null'.
    return JSON(none_as_null=nullable)


def new_uid() -> str:
    """A fresh identity for a model, endpoint or alert rule: a name re-created later gets another one,
    so nothing that hangs off the identity (grants, history, triggers) passes to the new holder."""
    return uuid.uuid4().hex


def _uid() -> Column[str]:
    return Column("uid", String(32), nullable=False, unique=True, default=new_uid)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    _uid(),
    Column("team", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags", _json(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("serving_group", String(64), nullable=False, server_default="default"),  # migration 0011
    # migration 0014: reuse across teams
    Column("visibility", String(16), nullable=False, server_default="private", index=True),
    Column("contact", Text, nullable=False, server_default=""),
    Column("task", String(32), nullable=False, server_default=""),
    Column("search_text", Text, nullable=False, server_default=""),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("flavor", String(64), nullable=False, index=True),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_uri", Text, nullable=False),
    Column("artifact_size", BigInteger, nullable=False),
    Column("artifact_filename", Text, nullable=False),
    Column("signature", _json(), nullable=False),
    Column("runtime_config", _json(), nullable=False),
    Column("input_example", _json(nullable=True), nullable=True),
    Column("metrics", _json(), nullable=False),
    Column("params", _json(), nullable=False),
    Column("feature_importance", _json(), nullable=False),
    Column("docs", Text, nullable=False),
    Column("training_data", Text, nullable=False),
    Column("tags", _json(), nullable=False),
    Column("trusted", Boolean, nullable=False),
    Column("pushed_by", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("card", _json(nullable=True), nullable=True),  # migration 0014: the model card
    UniqueConstraint("model_id", "number"),
    CheckConstraint("number >= 1", name="number_positive"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version_number", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("model_id", "alias"),
    ForeignKeyConstraint(["model_id", "version_number"], ["versions.model_id", "versions.number"]),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index(None, "model_id", "alias"),
)

registry_state = Table(
    "registry_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# -- security (migration 0002): teams, members, grants, tokens, the audit trail ----------------------

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

principals = Table(
    "principals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("admin", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("principal", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    UniqueConstraint("team_id", "principal"),
)

endpoint_grants = Table(
    "endpoint_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("target_uid", String(32), nullable=False, index=True),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("granted_by", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),  # migration 0014; NULL: never
    UniqueConstraint("endpoint", "team_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("principal", String(255), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("created_by", Text, nullable=False),
    # migration 0010: the token this one was created with (NULL: created locally, or before 0010)
    Column("parent_id", Integer, nullable=True, index=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("actor", String(255), nullable=False, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("resource_type", String(32), nullable=False),
    Column("resource_name", String(255), nullable=False),
    Column("before", _json(nullable=True), nullable=True),
    Column("after", _json(nullable=True), nullable=True),
    Column("request_id", String(128), nullable=False),
    Index(None, "resource_type", "resource_name"),
)

security_state = Table(
    "security_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    _uid(),
    Column("team", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("spec", _json(), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("serving_group", String(64), nullable=False, server_default="default"),  # migration 0011
    Column("visibility", String(16), nullable=False, server_default="private"),  # migration 0014
)

# -- serving groups (migration 0011): what each serving replica reports, every heartbeat ------------

serving_replicas = Table(
    "serving_replicas",
    metadata,
    Column("replica_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("serving_group", String(64), nullable=True),  # NULL: every group (role all)
    Column("url", Text, nullable=False),
    Column("grpc_url", Text, nullable=True),  # host:port of its gRPC port; NULL: no gRPC
    Column("started_at", UtcDateTime(), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False, index=True),
    Column("ready", _json(), nullable=False),
)

endpoint_events = Table(
    "endpoint_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("endpoint_uid", String(32), nullable=True, index=True),
    Column("revision", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("spec_before", _json(nullable=True), nullable=True),
    Column("spec_after", _json(nullable=True), nullable=True),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index(None, "endpoint", "id"),
)

entity_features = Table(
    "entity_features",
    metadata,
    Column("entity_table", String(128), primary_key=True),
    Column("entity_key", String(256), primary_key=True),
    Column("features", _json(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

entity_tables = Table(
    "entity_tables",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("team", String(128), nullable=True),  # NULL: the platform's (administrators only)
    Column("created_at", UtcDateTime(), nullable=False),
)
"""Who owns each entity table (migration 0009; tables from before it are the platform's)."""

feature_views = Table(
    "feature_views",
    metadata,
    Column("name", String(128), primary_key=True),  # its owner: the entity_tables row of that name
    Column("spec", _json(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
"""The definition of each feature view (migration 0016; `berth.core.features.FeatureView`)."""

# -- records (migration 0004) ----------------------------------------------------------------

RECORD_ID = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit row id (SQLite: INTEGER, its only auto-incrementing primary key type)."""

prediction_records = Table(
    "prediction_records",
    metadata,
    Column("id", RECORD_ID, primary_key=True, autoincrement=True),
    Column("prediction_id", String(320), nullable=False, index=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("endpoint", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("variant", String(256), nullable=False),
    Column("inputs", _json(), nullable=False),
    Column("model_inputs", _json(nullable=True), nullable=True),
    Column("outputs", _json(), nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("entity_key", String(256), nullable=True, index=True),
    Column("shadow_of", String(128), nullable=True, index=True),
    Column("record_key", String(330), nullable=True),  # migration 0012: a record stream's key
    Column("features_served", _json(nullable=True), nullable=True),  # migration 0017
    Index(None, "record_key", unique=True),
    Index(None, "recorded_at", "id"),
    Index(None, "endpoint", "recorded_at", "id"),
    Index(None, "model", "recorded_at", "id"),
)

prediction_feedback = Table(
    "prediction_feedback",
    metadata,
    Column("prediction_id", String(128), primary_key=True),
    Column("label", String(256), nullable=True),
    Column("value", Float, nullable=True),
    Column("observed_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("source", String(255), nullable=False),
)

entity_erasures = Table(
    "entity_erasures",
    metadata,
    Column("entity_key", String(256), primary_key=True),
    Column("erased_at", UtcDateTime(), nullable=False),
)

journal_positions = Table(
    "journal_positions",
    metadata,
    Column("segment", String(255), primary_key=True),
    Column("offset", BigInteger, nullable=False),
    Column("finished", Boolean, nullable=False),
)


# -- monitoring (migration 0005) -------------------------------------------------------------

version_profiles = Table(
    "version_profiles",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("profile", _json(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# -- jobs (migration 0006) -------------------------------------------------------------------

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("params", _json(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_after", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("claimed_by", String(255), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("progress", Float, nullable=False),
    Column("progress_message", Text, nullable=False),
    Column("result", _json(nullable=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("traceparent", String(55), nullable=True),  # migration 0013
    CheckConstraint(
        "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status_known"
    ),
    CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
    Index(None, "status", "run_after"),
    Index(None, "trigger"),
)

job_triggers = Table(
    "job_triggers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(64), nullable=False),
    Column("params", _json(), nullable=False),
    Column("every_s", Integer, nullable=True),
    Column("corrections_endpoint", String(128), nullable=True),
    Column("corrections_count", Integer, nullable=True),
    Column("alert_rule", String(128), nullable=True),
    Column("alert_rule_uid", String(32), nullable=True, index=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("last_fired_at", UtcDateTime(), nullable=True),
    Column("state", _json(), nullable=False),
)

# -- alerts and failed requests (migration 0007) ------------------------------------------

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("name", String(64), primary_key=True),
    _uid(),
    Column("target", String(128), nullable=False, index=True),
    Column("spec", _json(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("last_value", Float, nullable=True),
    Column("evaluated_at", UtcDateTime(), nullable=True),
    Column("state_changed_at", UtcDateTime(), nullable=True),
    Column("revision", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("target", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("delivery", _json(nullable=True), nullable=True),
    Index(None, "target", "at"),
    Index(None, "rule", "id"),
)

prediction_errors = Table(
    "prediction_errors",
    metadata,
    Column("id", RECORD_ID, primary_key=True, autoincrement=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("endpoint", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("variant", String(256), nullable=False),
    Column("code", String(64), nullable=False),
    Column("latency_s", Float, nullable=False),
    Index(None, "endpoint", "recorded_at"),
)


# -- reuse across teams (migration 0014): access requests, deprecations, consumers ----------------

access_requests = Table(
    "access_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_kind", String(16), nullable=False),  # model | endpoint
    Column("resource_name", String(128), nullable=False),
    Column("target_uid", String(32), nullable=False),  # the identity asked for (a name may be re-created)
    Column("owner_team", String(255), nullable=False),
    Column("requester", String(255), nullable=False, index=True),
    Column("team", String(128), nullable=False),  # the team the right is asked for
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | denied | withdrawn
    Column("created_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decided_by", Text, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("grant_expires_at", UtcDateTime(), nullable=True),
    Index(None, "owner_team", "status"),
)

deprecations = Table(
    "deprecations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_kind", String(16), nullable=False),  # model | endpoint
    Column("resource_name", String(128), nullable=False),
    Column("target_uid", String(32), nullable=False),
    Column("scope", String(16), nullable=False),  # version | alias | endpoint
    Column("subject", String(64), nullable=False),  # the version number, the alias, or '' (endpoint)
    Column("deprecated_at", UtcDateTime(), nullable=False),  # RFC 9745 Deprecation
    Column("sunset_at", UtcDateTime(), nullable=False),  # RFC 8594 Sunset
    Column("message", Text, nullable=False),
    Column("link", Text, nullable=True),
    Column("announced_by", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("target_uid", "scope", "subject"),
)

consumer_usage = Table(
    "consumer_usage",
    metadata,
    Column("id", RECORD_ID, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),  # the name called (a model name is an endpoint)
    Column("model", String(128), nullable=False, index=True),  # the model that answered
    Column("version", Integer, nullable=False),
    Column("principal", String(255), nullable=False),
    Column("team", String(128), nullable=False),  # the caller's team the call counted for ('' unknown)
    Column("day", String(10), nullable=False),  # UTC, YYYY-MM-DD
    Column("calls", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
    UniqueConstraint("endpoint", "model", "version", "principal", "team", "day"),
    # the catalog's sort by usage sums the calls of recent days per model and per endpoint: read
    # from these alone (covering), not from the table
    Index(None, "day", "model", "calls"),
    Index(None, "day", "endpoint", "calls"),
)
"""Calls per caller, added up in memory by each server process and flushed every few seconds."""


# -- delivery to teams (migration 0015): team inbox settings, the inbox (the outbox) -------------

team_inboxes = Table(
    "team_inboxes",
    metadata,
    Column("team", String(128), primary_key=True),
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", Text, nullable=True),
    Column("nats_subject", String(640), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", Text, nullable=False),
)
"""Where a team's messages go besides its inbox: a webhook and/or a NATS subject."""

inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("id", RECORD_ID, primary_key=True, autoincrement=True),
    Column(
        "key", String(512), nullable=False
    ),  # <endpoint>/<prediction id>#<row>[>team]: the idempotency key
    Column("team", String(128), nullable=False),  # '' for a row whose answer names no team
    Column("endpoint", String(128), nullable=False),
    Column("prediction_id", String(320), nullable=False),
    Column("row", Integer, nullable=False),
    Column("rows", Integer, nullable=False),  # rows in the prediction (feedback is per prediction)
    Column("learns", String(128), nullable=False),  # the answer column a reroute's feedback corrects
    Column("body", _json(), nullable=False),  # {"answer": {...}, "inputs": {...}} of the row
    Column("created_at", UtcDateTime(), nullable=False),  # when the prediction was answered
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),  # also the lease of the deliverer holding it
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("delivered_to", String(64), nullable=True),  # "inbox", "webhook", "nats", "webhook+nats"
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("acknowledged_by", Text, nullable=True),
    Column("rerouted_to", String(128), nullable=True),
    Column("rerouted_from", String(128), nullable=True),
    Column("rerouted_by", Text, nullable=True),
    Index(None, "key", unique=True),
    Index(None, "team", "id"),
    Index(None, "status", "next_attempt_at"),
)
"""Every routed row: written when its record is ingested, in the record's transaction."""
