"""Features served (issue 16, item 3): what the ``features`` steps of a request read, kept with its
record — per view, when the store answered, and per row the key, the look-up's outcome (hit, miss,
stale, unavailable) and the stored value's write time (`berth.core.records.FeaturesServed`). NULL
for records of requests without a ``features`` step, and for records made before this revision.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("prediction_records", sa.Column("features_served", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prediction_records") as batch:
        batch.drop_column("features_served")
