"""Reuse across teams (issue 15): visibility of models and endpoints, a model version's card, a
catalog search text, access requests, grants that expire, deprecations, and who consumes what.

- ``models.visibility`` / ``endpoints.visibility``: ``private`` (every model and endpoint from
  before) or ``discoverable`` (listed in every authenticated principal's catalog).
- ``models.contact``: who to ask about a model (shown in the catalog).
- ``models.task``: classification, regression, text, ... (a catalog filter; '' when unknown).
- ``models.search_text``: the lower-cased text the catalog searches (names, descriptions, card,
  tags, metric names), kept by the registry on every change.
- ``versions.card``: a version's structured model card (NULL: none pushed).
- ``endpoint_grants.expires_at``: when a grant stops counting (NULL: never).
- ``access_requests``: a principal asks for a right on another team's discoverable model or
  endpoint; the owner team's admins approve (a grant) or deny.
- ``deprecations``: an owner's announcement that a version, alias or endpoint will stop, and when.
- ``consumer_usage``: calls per endpoint, answering model version, principal, team and UTC day.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("visibility", sa.String(16), nullable=False, server_default="private"))
        batch.add_column(sa.Column("contact", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("task", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("visibility", sa.String(16), nullable=False, server_default="private"))
    op.add_column("versions", sa.Column("card", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("endpoint_grants", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_models_visibility", "models", ["visibility"])
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_kind", sa.String(16), nullable=False),
        sa.Column("resource_name", sa.String(128), nullable=False),
        sa.Column("target_uid", sa.String(32), nullable=False),
        sa.Column("owner_team", sa.String(255), nullable=False),
        sa.Column("requester", sa.String(255), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("grant_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_requests"),
    )
    op.create_index("ix_access_requests_owner_team_status", "access_requests", ["owner_team", "status"])
    op.create_index("ix_access_requests_requester", "access_requests", ["requester"])
    op.create_table(
        "deprecations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_kind", sa.String(16), nullable=False),
        sa.Column("resource_name", sa.String(128), nullable=False),
        sa.Column("target_uid", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sunset_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("announced_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deprecations"),
        sa.UniqueConstraint(
            "target_uid", "scope", "subject", name="uq_deprecations_target_uid_scope_subject"
        ),
    )
    op.create_table(
        "consumer_usage",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consumer_usage"),
        sa.UniqueConstraint(
            "endpoint",
            "model",
            "version",
            "principal",
            "team",
            "day",
            name="uq_consumer_usage_endpoint_model_version_principal_team_day",
        ),
    )
    op.create_index("ix_consumer_usage_model", "consumer_usage", ["model"])
    op.create_index("ix_consumer_usage_day_model_calls", "consumer_usage", ["day", "model", "calls"])
    op.create_index("ix_consumer_usage_day_endpoint_calls", "consumer_usage", ["day", "endpoint", "calls"])


def downgrade() -> None:
    op.drop_index("ix_consumer_usage_day_endpoint_calls", "consumer_usage")
    op.drop_index("ix_consumer_usage_day_model_calls", "consumer_usage")
    op.drop_index("ix_consumer_usage_model", "consumer_usage")
    op.drop_table("consumer_usage")
    op.drop_table("deprecations")
    op.drop_index("ix_access_requests_requester", "access_requests")
    op.drop_index("ix_access_requests_owner_team_status", "access_requests")
    op.drop_table("access_requests")
    op.drop_index("ix_models_visibility", "models")
    with op.batch_alter_table("endpoint_grants") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("card")
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("visibility")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("search_text")
        batch.drop_column("task")
        batch.drop_column("contact")
        batch.drop_column("visibility")
