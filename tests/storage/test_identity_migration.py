"""Migration 0008 gives existing models, endpoints and alert rules an identity, and ties what hangs
off them to it: a grant left over from a deleted endpoint is dropped, the history of an endpoint's
earlier holders keeps no identity, a trigger takes its rule's identity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, text

from berth.storage.db import create_database_engine
from berth.storage.migrate import upgrade_database
from berth.storage.schema import (
    alert_rules,
    endpoint_events,
    endpoint_grants,
    endpoints,
    job_triggers,
    models,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _insert(conn: Connection, table: str, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), values)


def _rows_at_0007(conn: Connection) -> None:
    at = AT.replace(tzinfo=None) if conn.dialect.name == "sqlite" else AT
    _insert(conn, "teams", name="beta", description="", created_at=at)
    team_id = conn.execute(text("SELECT id FROM teams WHERE name = 'beta'")).scalar_one()
    _insert(conn, "models", name="m", team="beta", description="", tags="{}", created_at=at, updated_at=at)
    spec = '{"targets": [{"target": "m"}]}'
    _insert(
        conn,
        "endpoints",
        name="e",
        team="beta",
        description="",
        spec=spec,
        revision=1,
        created_at=at,
        updated_at=at,
        updated_by="bob",
    )
    for endpoint in ("e", "m", "gone"):  # "gone": a grant left by a deleted endpoint
        _insert(conn, "endpoint_grants", endpoint=endpoint, team_id=team_id, granted_by="root", at=at)
    for kind in ("create", "delete", "create", "update"):  # "e" deleted once, then created again
        _insert(conn, "endpoint_events", endpoint="e", revision=1, kind=kind, actor="bob", reason="", at=at)
    _insert(
        conn,
        "alert_rules",
        name="r",
        target="e",
        spec="{}",
        state="ok",
        revision=1,
        created_at=at,
        updated_at=at,
    )
    _insert(
        conn,
        "job_triggers",
        name="t",
        kind="k",
        params="{}",
        alert_rule="r",
        enabled=True,
        created_at=at,
        created_by="root",
        state="{}",
    )


def test_existing_rows_get_identities_and_what_hangs_off_them_follows(empty_database_url: str) -> None:
    engine = create_database_engine(empty_database_url)
    try:
        upgrade_database(engine, "0007")
        with engine.begin() as conn:
            _rows_at_0007(conn)
        upgrade_database(engine)
        with engine.connect() as conn:
            uids = [conn.execute(select(t.c.uid)).scalar_one() for t in (models, endpoints, alert_rules)]
            grants = conn.execute(select(endpoint_grants.c.endpoint, endpoint_grants.c.target_uid)).all()
            history = conn.execute(
                select(endpoint_events.c.kind, endpoint_events.c.endpoint_uid).order_by(endpoint_events.c.id)
            ).all()
            trigger_rule = conn.execute(select(job_triggers.c.alert_rule_uid)).scalar_one()
    finally:
        engine.dispose()
    model_uid, endpoint_uid, rule_uid = uids
    assert len(set(uids)) == 3
    assert all(len(u) == 32 for u in uids)
    assert sorted(grants) == [("e", endpoint_uid), ("m", model_uid)]
    assert history == [("create", None), ("delete", None), ("create", endpoint_uid), ("update", endpoint_uid)]
    assert trigger_rule == rule_uid
