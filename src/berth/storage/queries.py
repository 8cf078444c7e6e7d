"""The registry's SQL statements, each run on a connection inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.errors import BerthError, ErrorCode
from berth.storage.schema import aliases, endpoints, models, registry_state, versions

CHANGE_CHANNEL = "berth_registry"
"""The PostgreSQL notification channel a change of the registry is announced on (with its generation)."""

_MAX_NUMBER = 2**31 - 1
"""The largest value of an INTEGER column on every supported database (a larger number cannot exist)."""


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def bump_generation(conn: Connection) -> int:
    """Add one to the change counter (in the caller's transaction) and return the new value.

    On PostgreSQL the new value is also announced on `CHANGE_CHANNEL`; PostgreSQL delivers the
    notification when (and only if) the transaction commits, so listeners never see a change early."""
    stmt = update(registry_state).values(generation=registry_state.c.generation + 1)
    generation = int(conn.execute(stmt.returning(registry_state.c.generation)).scalar_one())
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANGE_CHANNEL, "payload": str(generation)},
        )
    return generation


def read_generation(conn: Connection) -> int:
    """The change counter as of the caller's transaction."""
    return int(conn.execute(select(registry_state.c.generation)).scalar_one())


def model_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    """The ``models`` row of `name` (locked FOR UPDATE when `lock`), else MODEL_NOT_FOUND."""
    row = find_model_row(conn, name, lock=lock)
    if row is None:
        raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {name!r} not found", model=name)
    return row


def find_model_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any] | None:
    """The ``models`` row of `name`, or None (locked FOR UPDATE when `lock`)."""
    stmt = select(models).where(models.c.name == name)
    if lock:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).one_or_none()


def identity_of(conn: Connection, name: str) -> str | None:
    """The uid of the model or endpoint called `name` now (they share one namespace), or None.
    A name deleted and taken again names another identity: what hangs off the old one stays there."""
    for table in (models, endpoints):
        uid = conn.execute(select(table.c.uid).where(table.c.name == name)).scalar_one_or_none()
        if uid is not None:
            return str(uid)
    return None


def refuse_endpoint_name(conn: Connection, name: str) -> None:
    """ALREADY_EXISTS when an endpoint has this name (models and endpoints share ``/v2/models/{name}``)."""
    if conn.execute(select(endpoints.c.id).where(endpoints.c.name == name)).first() is not None:
        raise BerthError(
            ErrorCode.ALREADY_EXISTS,
            f"{name!r} is the name of an endpoint; models and endpoints share one namespace",
            model=name,
        )


def refuse_model_name(conn: Connection, name: str) -> None:
    """ALREADY_EXISTS when a model has this name."""
    if find_model_row(conn, name) is not None:
        raise BerthError(
            ErrorCode.ALREADY_EXISTS,
            f"{name!r} is the name of a model; models and endpoints share one namespace",
            endpoint=name,
        )


def insert_model_if_missing(conn: Connection, values: dict[str, Any]) -> None:
    """Insert a model unless one of that name exists (waits for a concurrent insert of the same name)."""
    refuse_endpoint_name(conn, str(values["name"]))
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(models).values(**values).on_conflict_do_nothing(index_elements=["name"])
    conn.execute(stmt)


def version_row(conn: Connection, model: Row[Any], number: int) -> Row[Any]:
    """The ``versions`` row of a model's version `number`, else VERSION_NOT_FOUND."""
    row = None
    if 0 < number <= _MAX_NUMBER:  # out of the column's range, the driver would fail to bind it
        stmt = select(versions).where(versions.c.model_id == model.id, versions.c.number == number)
        row = conn.execute(stmt).one_or_none()
    if row is None:
        raise BerthError(
            ErrorCode.VERSION_NOT_FOUND,
            f"model {model.name!r} has no version {number}",
            model=model.name,
            version=number,
        )
    return row


def latest_number(conn: Connection, model_id: int) -> int | None:
    """The highest version number of a model, None when it has no versions."""
    stmt = select(func.max(versions.c.number)).where(versions.c.model_id == model_id)
    value = conn.execute(stmt).scalar_one()
    return None if value is None else int(value)


def latest_numbers(conn: Connection, model_ids: Collection[int]) -> dict[int, int]:
    """The highest version number of each of the models that have versions."""
    if not model_ids:
        return {}
    stmt = (
        select(versions.c.model_id, func.max(versions.c.number))
        .where(versions.c.model_id.in_(model_ids))
        .group_by(versions.c.model_id)
    )
    return {int(model_id): int(number) for model_id, number in conn.execute(stmt)}


def alias_map(
    conn: Connection, model_ids: Collection[int] | Select[tuple[int]] | None = None
) -> dict[int, dict[str, int]]:
    """Alias -> version number, per model id (every model when `model_ids` is None; ids given, or
    selected by a subquery)."""
    stmt = select(aliases.c.model_id, aliases.c.alias, aliases.c.version_number)
    if model_ids is not None:
        if isinstance(model_ids, Collection) and not model_ids:
            return {}
        stmt = stmt.where(aliases.c.model_id.in_(model_ids))
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for model_id, alias, number in conn.execute(stmt):
        result[int(model_id)][alias] = int(number)
    return dict(result)


def alias_row(conn: Connection, model_id: int, alias: str) -> Row[Any] | None:
    """The ``aliases`` row of a model's alias, or None."""
    stmt = select(aliases).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
    return conn.execute(stmt).one_or_none()


def aliases_of_version(conn: Connection, model_id: int, number: int) -> list[str]:
    """The aliases pointing at a version, sorted."""
    stmt = select(aliases.c.alias).where(aliases.c.model_id == model_id, aliases.c.version_number == number)
    return sorted(conn.execute(stmt).scalars())
