"""Alert rules with their current state, the alert log, and the requests that failed (for error rates).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_value", sa.Float, nullable=True),
        _ts("evaluated_at", nullable=True),
        _ts("state_changed_at", nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_alert_rules"),
    )
    op.create_index("ix_alert_rules_target", "alert_rules", ["target"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        _ts("at"),
        sa.Column("delivery", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    )
    op.create_index("ix_alert_events_target_at", "alert_events", ["target", "at"])
    op.create_index("ix_alert_events_rule_id", "alert_events", ["rule", "id"])
    op.create_table(
        "prediction_errors",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        _ts("recorded_at"),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("variant", sa.String(256), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prediction_errors"),
    )
    op.create_index(
        "ix_prediction_errors_endpoint_recorded_at", "prediction_errors", ["endpoint", "recorded_at"]
    )


def downgrade() -> None:
    op.drop_table("prediction_errors")
    op.drop_table("alert_events")
    op.drop_table("alert_rules")
