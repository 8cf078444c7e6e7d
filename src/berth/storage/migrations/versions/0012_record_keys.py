"""Record keys: a record that arrives through a record stream (NATS JetStream) carries a key, unique
among the records, so a record delivered twice is stored once (`SqlRecordStore.ingest` inserts with
ON CONFLICT DO NOTHING on it). Records from the local journal have none (NULL, which a unique index
admits any number of times): their journal positions make them once.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("prediction_records", sa.Column("record_key", sa.String(330), nullable=True))
    op.create_index("ix_prediction_records_record_key", "prediction_records", ["record_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_prediction_records_record_key", table_name="prediction_records")
    with op.batch_alter_table("prediction_records") as batch:
        batch.drop_column("record_key")
