"""Identities that a re-created name does not share: models, endpoints and alert rules get a uid;
grants, endpoint history and job triggers hang off it.

Existing rows are backfilled: every model, endpoint and rule gets a fresh uid; a grant takes the uid
of what its name names now, and a grant whose name names nothing (a grant left over from a deleted
endpoint, which would pass to the next holder of the name) is dropped; the history of an endpoint
that exists is tied to it from its latest creation on (older events belong to earlier holders of the
name and keep no uid); a trigger on an alert rule takes the rule's uid.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_WITH_UID = ("models", "endpoints", "alert_rules")


def upgrade() -> None:
    conn = op.get_bind()
    for table in _WITH_UID:
        op.add_column(table, sa.Column("uid", sa.String(32), nullable=True))
        _backfill_uids(conn, table)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("uid", existing_type=sa.String(32), nullable=False)
            batch.create_unique_constraint(f"uq_{table}_uid", ["uid"])

    op.add_column("endpoint_grants", sa.Column("target_uid", sa.String(32), nullable=True))
    for table in ("models", "endpoints"):
        conn.execute(
            sa.text(
                f"UPDATE endpoint_grants SET target_uid = (SELECT uid FROM {table} "
                f"WHERE {table}.name = endpoint_grants.endpoint) WHERE target_uid IS NULL"
            )
        )
    conn.execute(sa.text("DELETE FROM endpoint_grants WHERE target_uid IS NULL"))
    with op.batch_alter_table("endpoint_grants") as batch:
        batch.alter_column("target_uid", existing_type=sa.String(32), nullable=False)
    op.create_index("ix_endpoint_grants_target_uid", "endpoint_grants", ["target_uid"])

    op.add_column("endpoint_events", sa.Column("endpoint_uid", sa.String(32), nullable=True))
    conn.execute(
        sa.text(
            "UPDATE endpoint_events SET endpoint_uid = "
            "(SELECT uid FROM endpoints WHERE endpoints.name = endpoint_events.endpoint) "
            "WHERE endpoint_events.id >= (SELECT MAX(c.id) FROM endpoint_events c "
            "WHERE c.endpoint = endpoint_events.endpoint AND c.kind = 'create')"
        )
    )
    op.create_index("ix_endpoint_events_endpoint_uid", "endpoint_events", ["endpoint_uid"])

    op.add_column("job_triggers", sa.Column("alert_rule_uid", sa.String(32), nullable=True))
    conn.execute(
        sa.text(
            "UPDATE job_triggers SET alert_rule_uid = "
            "(SELECT uid FROM alert_rules WHERE alert_rules.name = job_triggers.alert_rule)"
        )
    )
    op.create_index("ix_job_triggers_alert_rule_uid", "job_triggers", ["alert_rule_uid"])


def _backfill_uids(conn: sa.Connection, table: str) -> None:
    key = "name" if table == "alert_rules" else "id"
    for (row_key,) in conn.execute(sa.text(f"SELECT {key} FROM {table}")).all():
        conn.execute(
            sa.text(f"UPDATE {table} SET uid = :uid WHERE {key} = :key"),
            {"uid": uuid.uuid4().hex, "key": row_key},
        )


def downgrade() -> None:
    op.drop_index("ix_job_triggers_alert_rule_uid", "job_triggers")
    with op.batch_alter_table("job_triggers") as batch:
        batch.drop_column("alert_rule_uid")
    op.drop_index("ix_endpoint_events_endpoint_uid", "endpoint_events")
    with op.batch_alter_table("endpoint_events") as batch:
        batch.drop_column("endpoint_uid")
    op.drop_index("ix_endpoint_grants_target_uid", "endpoint_grants")
    with op.batch_alter_table("endpoint_grants") as batch:
        batch.drop_column("target_uid")
    for table in reversed(_WITH_UID):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_uid", type_="unique")
            batch.drop_column("uid")
