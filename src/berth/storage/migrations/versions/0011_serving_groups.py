"""Serving groups: each model and endpoint belongs to one (``default`` until assigned), and serving
replicas report where they answer (REST, and gRPC when they serve it) and what they have ready
(``serving_replicas``), every heartbeat.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    for table in ("models", "endpoints"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("serving_group", sa.String(64), nullable=False, server_default="default")
            )
    op.create_table(
        "serving_replicas",
        sa.Column("replica_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("serving_group", sa.String(64), nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("grpc_url", sa.Text, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready", sa.JSON, nullable=False),
    )
    op.create_index("ix_serving_replicas_heartbeat_at", "serving_replicas", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_serving_replicas_heartbeat_at", table_name="serving_replicas")
    op.drop_table("serving_replicas")
    for table in ("endpoints", "models"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("serving_group")
