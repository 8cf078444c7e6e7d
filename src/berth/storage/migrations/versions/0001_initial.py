"""The registry: models, versions, aliases, alias history and the change counter.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("artifact_size", sa.BigInteger, nullable=False),
        sa.Column("artifact_filename", sa.Text, nullable=False),
        sa.Column("signature", sa.JSON, nullable=False),
        sa.Column("runtime_config", sa.JSON, nullable=False),
        sa.Column("input_example", sa.JSON, nullable=True),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("feature_importance", sa.JSON, nullable=False),
        sa.Column("docs", sa.Text, nullable=False),
        sa.Column("training_data", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("trusted", sa.Boolean, nullable=False),
        sa.Column("pushed_by", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_versions"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_versions_model_id_models", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("model_id", "number", name="uq_versions_model_id_number"),
        sa.CheckConstraint("number >= 1", name="ck_versions_number_positive"),
    )
    op.create_index("ix_versions_flavor", "versions", ["flavor"])
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_aliases"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_aliases_model_id_models", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_id", "version_number"],
            ["versions.model_id", "versions.number"],
            name="fk_aliases_model_id_version_number_versions",
        ),
        sa.UniqueConstraint("model_id", "alias", name="uq_aliases_model_id_alias"),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_alias_events"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_alias_events_model_id_models", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_alias_events_model_id_alias", "alias_events", ["model_id", "alias"])
    registry_state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_state"),
        sa.CheckConstraint("id = 1", name="ck_registry_state_single_row"),
    )
    op.bulk_insert(registry_state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    for table in ("registry_state", "alias_events", "aliases", "versions", "models"):
        op.drop_table(table)
