"""Feature views (issue 16): the definition of each view, beside its owner row in ``entity_tables``.

- ``feature_views``: name (an entity table's name: a view is an entity table with a definition),
  ``spec`` (JSON: entity key, features and dtypes, source URI, TTL, miss and unavailable policies,
  defaults, latency budget, description), created and updated times.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "feature_views",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_feature_views"),
    )


def downgrade() -> None:
    op.drop_table("feature_views")
