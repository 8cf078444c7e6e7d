"""Reference profiles of versions, alert rules and the alert log (owned by the monitoring work).

Revision ID: 0005
Revises: 0004

Tables are created in `upgrade` in order and dropped in reverse in `downgrade`: a later table of
this revision (e.g. alerts) is one more ``op.create_table`` and one more name in `_TABLES`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("version_profiles",)


def upgrade() -> None:
    op.create_table(
        "version_profiles",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "version", name="pk_version_profiles"),
    )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
