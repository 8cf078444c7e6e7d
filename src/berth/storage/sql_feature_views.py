"""Feature view definitions in the registry database (``feature_views``, migration 0016).

A view is an entity table with a definition: its owner is its row in ``entity_tables`` (created
with the view, owned by the team it is created in), so every right on entity tables
(`berth.core.access.ResourceKind.ENTITY_TABLE`) covers views. A view over an existing embedded
entity table is allowed when the table is the same team's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

from berth.core.access import PLATFORM
from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, check_view_name, parse_view
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import entity_tables, feature_views
from berth.storage.sql_entities import claim_entity_table
from berth.storage.transactions import run_transaction


class SqlFeatureViewStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_view(self, view: FeatureView, *, team: str | None) -> FeatureView:
        """Store `view` owned by `team` (None: the platform); CONFLICT when the view exists."""

        def work(conn: Connection) -> FeatureView:
            if conn.execute(select(feature_views.c.name).where(feature_views.c.name == view.name)).first():
                raise BerthError(ErrorCode.CONFLICT, f"feature view {view.name!r} exists", view=view.name)
            at = q.now()
            claim_entity_table(conn, view.name, team, at)
            conn.execute(
                feature_views.insert().values(name=view.name, spec=view.spec(), created_at=at, updated_at=at)
            )
            record_event(conn, "feature_view.create", "entity_table", view.name, after=view.spec())
            return view.with_team(PLATFORM if team is None else team)

        return run_transaction(self._engine, work, write=True)

    def get_view(self, name: str) -> FeatureView | None:
        check_view_name(name)
        return run_transaction(self._engine, lambda conn: _get(conn, name))

    def list_views(self) -> list[FeatureView]:
        def work(conn: Connection) -> list[FeatureView]:
            stmt = (
                select(feature_views.c.name, feature_views.c.spec, entity_tables.c.team)
                .join(entity_tables, entity_tables.c.name == feature_views.c.name)
                .order_by(feature_views.c.name)
            )
            return [_view(name, spec, team) for name, spec, team in conn.execute(stmt)]

        return run_transaction(self._engine, work)

    def update_view(self, view: FeatureView) -> FeatureView:
        def work(conn: Connection) -> FeatureView:
            before = _get(conn, view.name)
            if before is None:
                raise _missing(view.name)
            conn.execute(
                update(feature_views)
                .where(feature_views.c.name == view.name)
                .values(spec=view.spec(), updated_at=q.now())
            )
            record_event(
                conn,
                "feature_view.update",
                "entity_table",
                view.name,
                before=before.spec(),
                after=view.spec(),
            )
            return view.with_team(before.team)

        return run_transaction(self._engine, work, write=True)

    def delete_view(self, name: str) -> bool:
        check_view_name(name)

        def work(conn: Connection) -> bool:
            before = _get(conn, name)
            if before is None:
                return False
            conn.execute(delete(feature_views).where(feature_views.c.name == name))
            record_event(conn, "feature_view.delete", "entity_table", name, before=before.spec())
            return True

        return run_transaction(self._engine, work, write=True)


def _get(conn: Connection, name: str) -> FeatureView | None:
    stmt = (
        select(feature_views.c.spec, entity_tables.c.team)
        .join(entity_tables, entity_tables.c.name == feature_views.c.name)
        .where(feature_views.c.name == name)
    )
    row = conn.execute(stmt).first()
    return None if row is None else _view(name, row.spec, row.team)


def _view(name: str, spec: dict[str, Any], team: str | None) -> FeatureView:
    return parse_view(spec, name=name, team=PLATFORM if team is None else str(team))


def _missing(name: str) -> BerthError:
    return BerthError(ErrorCode.ENTITY_TABLE_NOT_FOUND, f"feature view {name!r} not found", table=name)
