"""Endpoints with the history of every change, and the entity features pre-steps look up.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
    )
    op.create_table(
        "endpoint_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("spec_before", sa.JSON, nullable=True),
        sa.Column("spec_after", sa.JSON, nullable=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_events"),
    )
    op.create_index("ix_endpoint_events_endpoint_id", "endpoint_events", ["endpoint", "id"])
    op.create_table(
        "entity_features",
        sa.Column("entity_table", sa.String(128), nullable=False),
        sa.Column("entity_key", sa.String(256), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("entity_table", "entity_key", name="pk_entity_features"),
    )


def downgrade() -> None:
    for table in ("entity_features", "endpoint_events", "endpoints"):
        op.drop_table(table)
