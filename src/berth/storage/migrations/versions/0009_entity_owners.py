"""Entity tables get an owner: a team, or the platform (NULL) for every table from before.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "entity_tables",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("team", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_entity_tables"),
    )
    # every table that holds entities stays admin-only, as it was: owned by the platform
    op.execute(
        "INSERT INTO entity_tables (name, team, created_at) "
        "SELECT entity_table, NULL, MIN(updated_at) FROM entity_features GROUP BY entity_table"
    )


def downgrade() -> None:
    op.drop_table("entity_tables")
