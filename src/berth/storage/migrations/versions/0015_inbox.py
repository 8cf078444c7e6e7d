"""Delivery to teams (issue 18): team inbox settings and the inbox of routed messages.

- ``team_inboxes``: a team's webhook (URL and signing secret) and/or NATS subject.
- ``inbox_messages``: every answered row of an endpoint that declares ``deliver``, written when its
  record is ingested (the outbox, which is also the team's inbox): its idempotency key, team,
  body, delivery state (pending, delivered, dead), attempts and next attempt, acknowledgement and
  reroute.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None

_RECORD_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "team_inboxes",
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("nats_subject", sa.String(640), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("team", name="pk_team_inboxes"),
    )
    op.create_table(
        "inbox_messages",
        sa.Column("id", _RECORD_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("prediction_id", sa.String(320), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("learns", sa.String(128), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_to", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("rerouted_to", sa.String(128), nullable=True),
        sa.Column("rerouted_from", sa.String(128), nullable=True),
        sa.Column("rerouted_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox_messages"),
    )
    op.create_index("ix_inbox_messages_key", "inbox_messages", ["key"], unique=True)
    op.create_index("ix_inbox_messages_team_id", "inbox_messages", ["team", "id"])
    op.create_index(
        "ix_inbox_messages_status_next_attempt_at", "inbox_messages", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("inbox_messages")
    op.drop_table("team_inboxes")
