"""API tokens remember the token they were created with (``parent_id``).

A token minted by a caller who authenticated with another token never outlives that token, and
revoking it revokes every token minted with it (transitively). Tokens created before this
revision, and tokens created locally (``berth token create --home``, the root of trust), have no
parent: the backfill leaves ``parent_id`` NULL, which is what they are.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("parent_id", sa.Integer, nullable=True))
    op.create_index("ix_api_tokens_parent_id", "api_tokens", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_parent_id", table_name="api_tokens")
    op.drop_column("api_tokens", "parent_id")
