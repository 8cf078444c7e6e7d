"""Consumers and deprecations in the registry database (``consumer_usage``, ``deprecations``).

Usage is added, never replaced: every server process flushes what it counted with one upsert per
key (``calls = calls + n``, ``last_at`` the later one), so replicas and workers add up. A
deprecation hangs off the identity (uid) of the model or endpoint it was announced on: a name
deleted and taken again starts without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, and_, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.audit import current_audit_context
from berth.core.consumers import (
    RECENT_DAYS,
    ConsumedVersion,
    Consumer,
    Deprecation,
    DeprecationScope,
    UsageCount,
    checked_link,
    checked_message,
    checked_subject,
)
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import consumer_usage, deprecations, endpoints, models
from berth.storage.transactions import run_transaction

MODEL: Final = "model"
ENDPOINT: Final = "endpoint"
_BATCH: Final = 500
_KEY: Final = ("endpoint", "model", "version", "principal", "team", "day")


class SqlConsumerStore:
    """Usage and deprecations in the registry database (an engine shared with the registry store)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- usage --------------------------------------------------------------------------------------
    def add_usage(self, counts: Sequence[UsageCount]) -> None:
        merged: dict[tuple[str, str, int, str, str, str], UsageCount] = {}
        for count in counts:  # one row per key and statement (PostgreSQL refuses to upsert a row twice)
            seen = merged.get(count.key)
            merged[count.key] = count if seen is None else _sum(seen, count)
        rows = [_usage_values(c) for c in merged.values()]
        if not rows:
            return

        def work(conn: Connection) -> None:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            table = consumer_usage.c
            for start in range(0, len(rows), _BATCH):
                stmt = dialect.insert(consumer_usage).values(rows[start : start + _BATCH])
                later = stmt.excluded.last_at > table.last_at
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=list(_KEY),
                        set_={
                            "calls": table.calls + stmt.excluded.calls,
                            "errors": table.errors + stmt.excluded.errors,
                            "last_at": case((later, stmt.excluded.last_at), else_=table.last_at),
                        },
                    )
                )

        run_transaction(self._engine, work, write=True)

    def consumers(self, kind: str, name: str, *, now: datetime | None = None) -> list[Consumer]:
        at = now or q.now()
        recent = (at - timedelta(days=RECENT_DAYS - 1)).date().isoformat()

        def work(conn: Connection) -> list[Consumer]:
            target = _target(conn, kind, name)
            since = target.created_at.date().isoformat()
            c = consumer_usage.c
            called = c.model == name if kind == MODEL else c.endpoint == name
            stmt = (
                select(
                    c.team,
                    c.principal,
                    c.model,
                    c.version,
                    c.day,
                    func.sum(c.calls).label("calls"),
                    func.sum(c.errors).label("errors"),
                    func.max(c.last_at).label("last_at"),
                )
                .where(called, c.day >= since)
                .group_by(c.team, c.principal, c.model, c.version, c.day)
            )
            rows = conn.execute(stmt).all()
            notices = _current(conn, {r.model for r in rows} | {name})
            return _consumers(rows, notices, kind, name, recent)

        return run_transaction(self._engine, work, snapshot=True)

    # -- deprecations ---------------------------------------------------------------------------
    def announce(
        self,
        kind: str,
        name: str,
        scope: DeprecationScope,
        subject: str,
        *,
        sunset_at: datetime,
        message: str = "",
        link: str | None = None,
        deprecated_at: datetime | None = None,
        actor: str = "",
    ) -> Deprecation:
        subject = checked_subject(scope, subject)
        link = checked_link(link)
        message = checked_message(message)
        _check_scope(kind, scope)
        if sunset_at.tzinfo is None or (deprecated_at is not None and deprecated_at.tzinfo is None):
            raise BerthError(ErrorCode.INVALID_REQUEST, "deprecation and sunset times carry a time zone")

        def work(conn: Connection) -> Deprecation:
            target = _target(conn, kind, name, lock=True)
            _check_subject(conn, target, scope, subject)
            at = q.now()
            since = deprecated_at or at
            if sunset_at <= since:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST,
                    f"the sunset ({sunset_at.isoformat()}) must come after"
                    f" the deprecation ({since.isoformat()})",
                )
            d = deprecations.c
            where = and_(d.target_uid == target.uid, d.scope == scope.value, d.subject == subject)
            old = conn.execute(select(deprecations).where(where)).one_or_none()
            values: dict[str, Any] = {
                "deprecated_at": since,
                "sunset_at": sunset_at,
                "message": message,
                "link": link,
                "announced_by": _actor(actor),
            }
            if old is None:
                conn.execute(
                    deprecations.insert().values(
                        resource_kind=kind,
                        resource_name=name,
                        target_uid=target.uid,
                        scope=scope.value,
                        subject=subject,
                        created_at=at,
                        **values,
                    )
                )
            else:
                conn.execute(deprecations.update().where(where).values(**values))
            new = _deprecation(conn.execute(select(deprecations).where(where)).one(), name)
            before = _deprecation(old, name).to_json() if old is not None else None
            record_event(
                conn, "deprecation.announce", kind, name, before=before, after=new.to_json(), actor=actor
            )
            q.bump_generation(conn)  # servers reload their notices
            return new

        return run_transaction(self._engine, work, write=True)

    def withdraw(self, kind: str, name: str, scope: DeprecationScope, subject: str) -> Deprecation:
        subject = checked_subject(scope, subject)
        _check_scope(kind, scope)

        def work(conn: Connection) -> Deprecation:
            target = _target(conn, kind, name, lock=True)
            d = deprecations.c
            where = and_(d.target_uid == target.uid, d.scope == scope.value, d.subject == subject)
            row = conn.execute(select(deprecations).where(where)).one_or_none()
            if row is None:
                raise BerthError(
                    ErrorCode.DEPRECATION_NOT_FOUND,
                    f"{kind} {name!r} has no deprecation of {scope.value} {subject!r}".replace(" ''", ""),
                    model=name,
                )
            old = _deprecation(row, name)
            conn.execute(delete(deprecations).where(where))
            record_event(conn, "deprecation.withdraw", kind, name, before=old.to_json())
            q.bump_generation(conn)
            return old

        return run_transaction(self._engine, work, write=True)

    def deprecations(self, kind: str, name: str) -> list[Deprecation]:
        def work(conn: Connection) -> list[Deprecation]:
            target = _target(conn, kind, name)
            stmt = (
                select(deprecations)
                .where(deprecations.c.target_uid == target.uid)
                .order_by(deprecations.c.scope, deprecations.c.subject)
            )
            return [_deprecation(r, name) for r in conn.execute(stmt)]

        return run_transaction(self._engine, work)

    def all_deprecations(self) -> list[Deprecation]:
        def work(conn: Connection) -> list[Deprecation]:
            found: list[Deprecation] = []
            for table in (models, endpoints):  # the current holder of each identity: its name now
                stmt = select(deprecations, table.c.name.label("current_name")).join(
                    table, table.c.uid == deprecations.c.target_uid
                )
                found += [_deprecation(r, r.current_name) for r in conn.execute(stmt)]
            return found

        return run_transaction(self._engine, work)


def _target(conn: Connection, kind: str, name: str, *, lock: bool = False) -> Row[Any]:
    if kind == MODEL:
        return q.model_row(conn, name, lock=lock)
    if kind != ENDPOINT:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"consumers are of a model or an endpoint, not {kind!r}")
    stmt = select(endpoints).where(endpoints.c.name == name)
    row = conn.execute(stmt.with_for_update() if lock else stmt).one_or_none()
    if row is None:
        raise BerthError(ErrorCode.ENDPOINT_NOT_FOUND, f"endpoint {name!r} not found", endpoint=name)
    return row


def _check_scope(kind: str, scope: DeprecationScope) -> None:
    wanted = (
        (DeprecationScope.ENDPOINT,)
        if kind == ENDPOINT
        else (DeprecationScope.VERSION, DeprecationScope.ALIAS)
    )
    if scope not in wanted:
        names = " or ".join(s.value for s in wanted)
        raise BerthError(ErrorCode.INVALID_REQUEST, f"a deprecation of a {kind} names a {names}")


def _check_subject(conn: Connection, target: Row[Any], scope: DeprecationScope, subject: str) -> None:
    if scope is DeprecationScope.VERSION:
        q.version_row(conn, target, int(subject))
    elif scope is DeprecationScope.ALIAS and q.alias_row(conn, target.id, subject) is None:
        raise BerthError(
            ErrorCode.ALIAS_NOT_FOUND,
            f"model {target.name!r} has no alias {subject!r}",
            model=target.name,
            alias=subject,
        )


def _current(conn: Connection, names: set[str]) -> list[Deprecation]:
    """The deprecations of the models and endpoints called `names` now."""
    found: list[Deprecation] = []
    for table in (models, endpoints):
        stmt = (
            select(deprecations, table.c.name.label("current_name"))
            .join(table, table.c.uid == deprecations.c.target_uid)
            .where(table.c.name.in_(sorted(names)))
        )
        found += [_deprecation(r, r.current_name) for r in conn.execute(stmt)]
    return found


def _consumers(
    rows: Sequence[Row[Any, Any, Any, Any, Any, Any, Any, Any]],
    notices: list[Deprecation],
    kind: str,
    name: str,
    recent: str,
) -> list[Consumer]:
    deprecated_versions = {
        (d.resource_name, int(d.subject)): d.deprecated_at.date().isoformat()
        for d in notices
        if d.scope is DeprecationScope.VERSION
    }
    endpoint_since = next(
        (
            d.deprecated_at.date().isoformat()
            for d in notices
            if d.scope is DeprecationScope.ENDPOINT and d.resource_name == name
        ),
        None,
    )
    found: dict[tuple[str, str], Consumer] = {}
    versions: dict[tuple[str, str, str, int], ConsumedVersion] = {}
    for r in rows:
        calls, errors, last_at = int(r.calls), int(r.errors), r.last_at
        consumer = found.get((r.team, r.principal))
        if consumer is None:
            consumer = found[r.team, r.principal] = Consumer(team=r.team, principal=r.principal)
        consumer.calls += calls
        consumer.errors += errors
        consumer.calls_30d += calls if r.day >= recent else 0
        consumer.last_at = _later(consumer.last_at, last_at)
        key = (r.team, r.principal, r.model, int(r.version))
        version = versions.get(key)
        if version is None:
            deprecated = (r.model, int(r.version)) in deprecated_versions
            version = versions[key] = ConsumedVersion(
                model=r.model, version=int(r.version), deprecated=deprecated
            )
            consumer.versions.append(version)
        version.calls += calls
        version.last_at = _later(version.last_at, last_at)
        since = deprecated_versions.get((r.model, int(r.version)))
        if kind == ENDPOINT and endpoint_since is not None:
            since = min(since, endpoint_since) if since is not None else endpoint_since
        if since is not None and r.day >= since:
            consumer.deprecated_calls += calls
            consumer.deprecated_last_at = _later(consumer.deprecated_last_at, last_at)
    for consumer in found.values():
        consumer.versions.sort(key=lambda v: (v.model, v.version))
    return sorted(found.values(), key=lambda c: (-c.calls, c.team, c.principal))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def _sum(a: UsageCount, b: UsageCount) -> UsageCount:
    return UsageCount(
        a.endpoint,
        a.model,
        a.version,
        a.principal,
        a.team,
        a.day,
        a.calls + b.calls,
        a.errors + b.errors,
        max(a.last_at, b.last_at),
    )


def _usage_values(c: UsageCount) -> dict[str, Any]:
    return {
        "endpoint": c.endpoint[:128],
        "model": c.model[:128],
        "version": c.version,
        "principal": c.principal[:255],
        "team": c.team[:128],
        "day": c.day,
        "calls": c.calls,
        "errors": c.errors,
        "last_at": c.last_at,
    }


def _deprecation(row: Row[Any], name: str) -> Deprecation:
    return Deprecation(
        resource_kind=row.resource_kind,
        resource_name=name,
        scope=DeprecationScope.parse(row.scope),
        subject=row.subject,
        deprecated_at=row.deprecated_at,
        sunset_at=row.sunset_at,
        message=row.message,
        link=row.link,
        announced_by=row.announced_by,
    )


def _actor(given: str) -> str:
    context = current_audit_context()
    return (context.actor if context is not None and context.actor else given) or "unknown"
