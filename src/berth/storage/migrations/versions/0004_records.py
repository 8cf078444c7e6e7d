"""Prediction records, their feedback, entity erasures and the journal ingester's positions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_RECORD_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "prediction_records",
        sa.Column("id", _RECORD_ID, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.String(320), nullable=False),
        _ts("recorded_at"),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(256), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("model_inputs", sa.JSON, nullable=True),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("entity_key", sa.String(256), nullable=True),
        sa.Column("shadow_of", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prediction_records"),
    )
    for columns in (
        ["prediction_id"],
        ["entity_key"],
        ["shadow_of"],
        ["recorded_at", "id"],
        ["endpoint", "recorded_at", "id"],
        ["model", "recorded_at", "id"],
    ):
        op.create_index(f"ix_prediction_records_{'_'.join(columns)}", "prediction_records", columns)
    op.create_table(
        "prediction_feedback",
        sa.Column("prediction_id", sa.String(128), nullable=False),
        sa.Column("label", sa.String(256), nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        _ts("observed_at"),
        _ts("received_at"),
        sa.Column("source", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name="pk_prediction_feedback"),
    )
    op.create_table(
        "entity_erasures",
        sa.Column("entity_key", sa.String(256), nullable=False),
        _ts("erased_at"),
        sa.PrimaryKeyConstraint("entity_key", name="pk_entity_erasures"),
    )
    op.create_table(
        "journal_positions",
        sa.Column("segment", sa.String(255), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("segment", name="pk_journal_positions"),
    )


def downgrade() -> None:
    for table in ("journal_positions", "entity_erasures", "prediction_feedback", "prediction_records"):
        op.drop_table(table)
