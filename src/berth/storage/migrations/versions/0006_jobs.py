"""Background jobs claimed by workers, and their triggers (owned by the jobs work).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _ts("run_after"),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        _ts("lease_until", nullable=True),
        _ts("heartbeat_at", nullable=True),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("progress_message", sa.Text, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="ck_jobs_status_known",
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="ck_jobs_progress_fraction"),
    )
    op.create_index("ix_jobs_status_run_after", "jobs", ["status", "run_after"])
    op.create_index("ix_jobs_trigger", "jobs", ["trigger"])
    op.create_table(
        "job_triggers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("every_s", sa.Integer, nullable=True),
        sa.Column("corrections_endpoint", sa.String(128), nullable=True),
        sa.Column("corrections_count", sa.Integer, nullable=True),
        sa.Column("alert_rule", sa.String(128), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.Text, nullable=False),
        _ts("last_fired_at", nullable=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_triggers"),
        sa.UniqueConstraint("name", name="uq_job_triggers_name"),
    )


def downgrade() -> None:
    op.drop_table("job_triggers")
    op.drop_index("ix_jobs_trigger", table_name="jobs")
    op.drop_index("ix_jobs_status_run_after", table_name="jobs")
    op.drop_table("jobs")
