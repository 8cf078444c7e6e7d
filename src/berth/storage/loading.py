"""Registry entities read from the database: models with their aliases, versions, snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, or_, select

from berth.core.endpoints import Endpoint
from berth.core.entities import (
    LATEST,
    PRODUCTION,
    Model,
    RegistrySnapshot,
    SnapshotScope,
    Version,
)
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.rows import model_from_row, version_from_row
from berth.storage.schema import models, versions
from berth.storage.sql_endpoints import load_endpoints
from berth.storage.sql_serving_groups import load_groups


def load_model(conn: Connection, row: Row[Any]) -> Model:
    """The model of a ``models`` row, with its latest version number and its aliases."""
    return load_models(conn, [row])[0]


def load_models(conn: Connection, rows: list[Row[Any]]) -> list[Model]:
    """The models of several rows, in their order (two queries for all of them)."""
    ids = [r.id for r in rows]
    latest, alias_maps = q.latest_numbers(conn, ids), q.alias_map(conn, ids)
    return [
        model_from_row(r, latest_version=latest.get(r.id), aliases=alias_maps.get(r.id, {})) for r in rows
    ]


def load_version(conn: Connection, model: Row[Any], number: int) -> Version:
    """A version with the aliases pointing at it, else VERSION_NOT_FOUND."""
    row = q.version_row(conn, model, number)
    return version_from_row(row, model=model.name, aliases=q.aliases_of_version(conn, model.id, number))


def resolve_number(conn: Connection, model: Row[Any], ref: str | None) -> int:
    """The version number a checked reference names (digits, "latest", an alias, or None)."""
    if ref is not None and ref.isascii() and ref.isdigit():
        return int(ref)
    if ref is None or ref != LATEST:
        alias = q.alias_row(conn, model.id, ref or PRODUCTION)
        if alias is not None:
            return int(alias.version_number)
        if ref is not None:
            raise alias_not_found(model.name, ref)
    latest = q.latest_number(conn, model.id)
    if latest is None:
        raise BerthError(
            ErrorCode.VERSION_NOT_FOUND, f"model {model.name!r} has no versions yet", model=model.name
        )
    return latest


def load_snapshot(conn: Connection, scope: SnapshotScope | None = None) -> RegistrySnapshot:
    """Every model's versions and aliases, or those of the models in `scope` (five queries), every
    endpoint and group, and the generation they were read at."""
    generation = q.read_generation(conn)
    groups = load_groups(conn)
    endpoints = load_endpoints(conn)
    stmt = select(versions).order_by(versions.c.model_id, versions.c.number)
    if scope is None:
        names = {int(i): str(n) for i, n in conn.execute(select(models.c.id, models.c.name))}
        by_model = q.alias_map(conn)
    else:
        in_scope = _in_scope(scope, groups, endpoints)
        scoped_ids = select(models.c.id).where(in_scope)
        names = {int(i): str(n) for i, n in conn.execute(select(models.c.id, models.c.name).where(in_scope))}
        by_model = q.alias_map(conn, scoped_ids)
        stmt = stmt.where(versions.c.model_id.in_(scoped_ids))
    all_versions: dict[str, dict[int, Version]] = {name: {} for name in names.values()}
    for row in conn.execute(stmt):
        model_aliases = by_model.get(row.model_id, {})
        pointing = [a for a, n in model_aliases.items() if n == row.number]
        name = names[row.model_id]
        all_versions[name][row.number] = version_from_row(row, model=name, aliases=pointing)
    all_aliases = {name: dict(sorted(by_model.get(i, {}).items())) for i, name in names.items()}
    return RegistrySnapshot(
        generation=generation,
        versions=all_versions,
        aliases=all_aliases,
        endpoints=endpoints,
        groups=groups,
    )


def _in_scope(
    scope: SnapshotScope, groups: Mapping[str, str], endpoints: Mapping[str, Endpoint]
) -> ColumnElement[bool]:
    """The ``models`` rows of `scope`: its group's, by a column, and the few others by name."""
    if scope.group is None:
        mine: set[str] = set()
    else:
        mine = {name for name, group in groups.items() if group == scope.group}
    others = set(scope.also)
    for name in mine & endpoints.keys():
        others.update(scope.referenced(endpoints[name]))
    others -= mine
    by_name = models.c.name.in_(sorted(others))
    return by_name if scope.group is None else or_(models.c.serving_group == scope.group, by_name)


def alias_not_found(model: str, alias: str) -> BerthError:
    return BerthError(
        ErrorCode.ALIAS_NOT_FOUND, f"model {model!r} has no alias {alias!r}", model=model, alias=alias
    )
