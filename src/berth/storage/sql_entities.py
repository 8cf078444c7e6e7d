"""Entity features: a key -> features table per entity kind (e.g. customers), read by look-up steps.

Each table has an owner (`entity_tables`): the team it was created in, or the platform (its
administrators) for tables from before owners existed and tables created without a team. Who
may read, write or reference a table is decided above (`berth.core.access`); here a write checks,
in its own transaction, that the table is still owned by the team the caller was authorized for.

This is the simple online store of the registry database (SQLite or PostgreSQL); a feature store
with point-in-time history replaces it behind the same `EntityStore` protocol later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.access import PLATFORM
from berth.core.entities import check_model_name
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import entity_features, entity_tables
from berth.storage.security_store import require_team
from berth.storage.transactions import run_transaction

MAX_KEY_LENGTH: Final = 256
MAX_ROWS_PER_PUT: Final = 10_000
_CHUNK: Final = 500


def check_entity_table(name: str) -> str:
    """An entity table name follows the model-name rules."""
    try:
        return check_model_name(name)
    except BerthError:
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid entity table name {name!r}: use letters, digits, '.', '_' and '-' (at most 128)",
        ) from None


def check_entity_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"an entity key must be a non-empty string of at most {MAX_KEY_LENGTH}"
        )
    return key


def _check_features(key: str, features: object) -> dict[str, Any]:
    if not isinstance(features, Mapping) or not all(isinstance(k, str) for k in features):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the features of {key!r} must be an object")
    for name, value in features.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"feature {name!r} of {key!r} is not a finite number")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"feature {name!r} of {key!r} must be a string, number, bool or null",
            )
    return dict(features)


class SqlEntityStore:
    """Entity features in the registry database (an engine shared with the registry store)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def entity_table_owner(self, table: str) -> str | None:
        """The team that owns `table` (`PLATFORM`: no team), None when there is no such table."""
        check_entity_table(table)
        return run_transaction(self._engine, lambda conn: _owner(conn, table))

    def entity_table_owners(self) -> dict[str, str]:
        """Every entity table with its owner (`PLATFORM`: no team)."""

        def work(conn: Connection) -> dict[str, str]:
            rows = conn.execute(select(entity_tables.c.name, entity_tables.c.team))
            return {str(name): PLATFORM if team is None else str(team) for name, team in rows}

        return run_transaction(self._engine, work)

    def put_entities(
        self, table: str, rows: Mapping[str, Mapping[str, Any]], *, team: str | None = None
    ) -> int:
        """Insert or replace the features of every key; returns how many were written. A new table
        is created owned by `team` (which must exist; None: by the platform); an existing one must
        be owned by `team` when it is given (INVALID_REQUEST otherwise: tables do not move)."""
        check_entity_table(table)
        if len(rows) > MAX_ROWS_PER_PUT:
            raise BerthError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"at most {MAX_ROWS_PER_PUT} entities per call, got {len(rows)}"
            )
        checked = {check_entity_key(k): _check_features(k, v) for k, v in rows.items()}

        def work(conn: Connection) -> int:
            at = q.now()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            claim_entity_table(conn, table, team, at)
            values = [
                {"entity_table": table, "entity_key": k, "features": v, "updated_at": at}
                for k, v in checked.items()
            ]
            record_event(conn, "entity.put", "entity_table", table, after={"keys": sorted(checked)[:1000]})
            for start in range(0, len(values), _CHUNK):
                stmt = dialect.insert(entity_features).values(values[start : start + _CHUNK])
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["entity_table", "entity_key"],
                        set_={"features": stmt.excluded.features, "updated_at": stmt.excluded.updated_at},
                    )
                )
            return len(values)

        return run_transaction(self._engine, work, write=True)

    def get_entities(self, table: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The features of every key that exists (missing keys are absent from the answer)."""
        check_entity_table(table)
        wanted = sorted({k for k in keys if isinstance(k, str) and 0 < len(k) <= MAX_KEY_LENGTH})
        if not wanted:
            return {}

        def work(conn: Connection) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for start in range(0, len(wanted), _CHUNK):
                stmt = select(entity_features.c.entity_key, entity_features.c.features).where(
                    entity_features.c.entity_table == table,
                    entity_features.c.entity_key.in_(wanted[start : start + _CHUNK]),
                )
                found.update({str(k): dict(v) for k, v in conn.execute(stmt)})
            return found

        return run_transaction(self._engine, work)

    def get_entity_rows(self, table: str, keys: Sequence[str]) -> dict[str, tuple[dict[str, Any], float]]:
        """Like `get_entities`, with each entity's last write (unix seconds): a feature view's
        freshness."""
        check_entity_table(table)
        wanted = sorted({k for k in keys if isinstance(k, str) and 0 < len(k) <= MAX_KEY_LENGTH})
        if not wanted:
            return {}

        def work(conn: Connection) -> dict[str, tuple[dict[str, Any], float]]:
            found: dict[str, tuple[dict[str, Any], float]] = {}
            c = entity_features.c
            for start in range(0, len(wanted), _CHUNK):
                stmt = select(c.entity_key, c.features, c.updated_at).where(
                    c.entity_table == table, c.entity_key.in_(wanted[start : start + _CHUNK])
                )
                found.update({str(k): (dict(v), at.timestamp()) for k, v, at in conn.execute(stmt)})
            return found

        return run_transaction(self._engine, work)

    def delete_entity(self, table: str, key: str) -> bool:
        """Remove one entity's features; False when there were none."""
        check_entity_table(table)
        check_entity_key(key)

        def work(conn: Connection) -> bool:
            stmt = delete(entity_features).where(
                entity_features.c.entity_table == table, entity_features.c.entity_key == key
            )
            deleted = bool(conn.execute(stmt).rowcount)
            if deleted:
                record_event(conn, "entity.delete", "entity_table", table, before={"key": key})
            return deleted

        return run_transaction(self._engine, work, write=True)

    def entity_tables(self) -> dict[str, int]:
        """Every entity table with how many keys it holds."""

        def work(conn: Connection) -> dict[str, int]:
            stmt = (
                select(entity_features.c.entity_table, func.count())
                .group_by(entity_features.c.entity_table)
                .order_by(entity_features.c.entity_table)
            )
            return {str(t): int(n) for t, n in conn.execute(stmt)}

        return run_transaction(self._engine, work)


def _owner(conn: Connection, table: str) -> str | None:
    row = conn.execute(select(entity_tables.c.team).where(entity_tables.c.name == table)).first()
    if row is None:
        return None
    return PLATFORM if row.team is None else str(row.team)


def claim_entity_table(conn: Connection, table: str, team: str | None, at: Any) -> None:
    """Create `table` owned by `team` when it is new; refuse a write that names another owner."""
    owner = _owner(conn, table)
    if owner is None:
        if team is not None:
            require_team(conn, team)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(entity_tables).values(name=table, team=team, created_at=at)
        made = stmt.on_conflict_do_nothing(index_elements=["name"]).returning(entity_tables.c.name)
        if conn.execute(made).first() is not None:
            record_event(conn, "entity_table.create", "entity_table", table, after={"team": team})
            return
        owner = _owner(conn, table)  # created by a concurrent write a moment ago
    if team is not None and owner != team:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"entity table {table!r} belongs to another owner; entity tables do not move between teams",
            table=table,
        )
