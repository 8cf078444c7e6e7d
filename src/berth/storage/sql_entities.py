"""Entity features: a key -> features table per entity kind (e.g. customers), read by look-up steps.

This is the simple online store of the registry database (SQLite or PostgreSQL); a feature store
with point-in-time history replaces it behind the same `EntityStore` protocol later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.entities import check_model_name
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import entity_features
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

    def put_entities(self, table: str, rows: Mapping[str, Mapping[str, Any]]) -> int:
        """Insert or replace the features of every key; returns how many were written."""
        check_entity_table(table)
        if len(rows) > MAX_ROWS_PER_PUT:
            raise BerthError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"at most {MAX_ROWS_PER_PUT} entities per call, got {len(rows)}"
            )
        checked = {check_entity_key(k): _check_features(k, v) for k, v in rows.items()}

        def work(conn: Connection) -> int:
            at = q.now()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
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
