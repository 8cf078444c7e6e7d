"""Endpoints in the registry database: the current spec of each, and every change as an event.

Each change is one transaction: it checks the revision the caller read (optimistic concurrency:
CONFLICT when another change came first), writes the new spec with revision + 1, appends the
event with the spec before and after, and bumps the registry's change counter, so every server
reconciles to it (immediately on PostgreSQL, through LISTEN/NOTIFY).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.core.endpoints import (
    Endpoint,
    EndpointChange,
    EndpointEvent,
    EndpointSpec,
    check_endpoint_name,
)
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.rows import checked_team, checked_text
from berth.storage.schema import endpoint_events, endpoints
from berth.storage.security_store import ensure_team, require_team, revoke_grants_of
from berth.storage.sql_alerts import delete_rules_of
from berth.storage.transactions import run_transaction


class SqlEndpointStore:
    """Endpoints in the database of an engine shared with the registry store (not disposed here)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_endpoint(
        self,
        name: str,
        spec: EndpointSpec,
        *,
        team: str = "default",
        description: str = "",
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        check_endpoint_name(name)
        values = {
            "name": name,
            "team": checked_team(team),
            "description": checked_text("description", description),
            "spec": spec.to_json(),
        }

        def work(conn: Connection) -> Endpoint:
            q.refuse_model_name(conn, name)
            ensure_team(conn, str(values["team"]))
            at = q.now()
            try:
                conn.execute(
                    insert(endpoints).values(
                        **values, revision=1, created_at=at, updated_at=at, updated_by=actor
                    )
                )
            except IntegrityError:
                raise BerthError(
                    ErrorCode.ALREADY_EXISTS, f"endpoint {name!r} already exists", endpoint=name
                ) from None
            created = _row(conn, name)
            _append_event(conn, created, 1, EndpointChange.CREATE, None, spec, actor, reason)
            q.bump_generation(conn)
            return endpoint_from_row(created)

        return run_transaction(self._engine, work, write=True)

    def get_endpoint(self, name: str) -> Endpoint:
        check_endpoint_name(name)
        return run_transaction(self._engine, lambda conn: endpoint_from_row(_row(conn, name)))

    def list_endpoints(self) -> list[Endpoint]:
        """Every endpoint, sorted by name."""
        return run_transaction(self._engine, load_endpoints_list)

    def update_endpoint(
        self,
        name: str,
        spec: EndpointSpec,
        *,
        expected_revision: int | None = None,
        kind: str = EndpointChange.UPDATE,
        description: str | None = None,
        team: str | None = None,
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        """Store `spec` as the endpoint's next revision. With `expected_revision`, CONFLICT unless
        the endpoint is still at that revision (nobody changed it since the caller read it)."""
        check_endpoint_name(name)
        extra: dict[str, Any] = {}
        if description is not None:
            extra["description"] = checked_text("description", description)
        if team is not None:
            extra["team"] = checked_team(team)

        def work(conn: Connection) -> Endpoint:
            row = _row(conn, name, lock=True)
            if expected_revision is not None and row.revision != expected_revision:
                raise BerthError(
                    ErrorCode.CONFLICT,
                    f"endpoint {name!r} changed meanwhile (revision {row.revision}, "
                    f"expected {expected_revision}); read it again and retry",
                    endpoint=name,
                    revision=row.revision,
                )
            revision = int(row.revision) + 1
            if "team" in extra:
                require_team(conn, extra["team"])
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == row.id)
                .values(spec=spec.to_json(), revision=revision, updated_at=q.now(), updated_by=actor, **extra)
            )
            before = EndpointSpec.from_json(row.spec)
            _append_event(conn, row, revision, kind, before, spec, actor, reason)
            q.bump_generation(conn)
            return endpoint_from_row(_row(conn, name))

        return run_transaction(self._engine, work, write=True)

    def delete_endpoint(self, name: str, *, actor: str = "", reason: str = "") -> EndpointEvent:
        check_endpoint_name(name)

        def work(conn: Connection) -> EndpointEvent:
            row = _row(conn, name, lock=True)
            conn.execute(delete(endpoints).where(endpoints.c.id == row.id))
            # what hangs off the endpoint goes with it, in this transaction, audited: nothing of it
            # passes to the next holder of the name (its records and history stay, tied to it)
            revoke_grants_of(conn, name, row.uid, "endpoint deleted")
            delete_rules_of(conn, name, "endpoint deleted")
            before = EndpointSpec.from_json(row.spec)
            event = _append_event(
                conn, row, int(row.revision) + 1, EndpointChange.DELETE, before, None, actor, reason
            )
            q.bump_generation(conn)
            return event

        return run_transaction(self._engine, work, write=True)

    def endpoint_history(self, name: str) -> list[EndpointEvent]:
        """Every change of the endpoint, oldest first (also of a deleted endpoint of that name)."""
        check_endpoint_name(name)

        def work(conn: Connection) -> list[EndpointEvent]:
            current = conn.execute(select(endpoints.c.uid).where(endpoints.c.name == name)).scalar()
            # the endpoint that has the name now: its own history, not that of earlier holders
            which = (
                endpoint_events.c.endpoint == name
                if current is None
                else endpoint_events.c.endpoint_uid == current
            )
            rows = conn.execute(select(endpoint_events).where(which).order_by(endpoint_events.c.id)).all()
            if not rows:
                _row(conn, name)  # ENDPOINT_NOT_FOUND
            return [_event_from_row(r) for r in rows]

        return run_transaction(self._engine, work)


def refuse_alias_in_use(conn: Connection, model: str, alias: str) -> None:
    """CONFLICT when an endpoint routes to ``model@alias`` (as a target, canary, shadow or custom
    step): deleting the alias would leave it nothing to serve."""
    wanted = f"{model}@{alias}"
    users = [
        e.name
        for e in load_endpoints_list(conn)
        if wanted in {str(r) for r in e.spec.referenced()} or wanted in _strings(e.spec.pipeline)
    ]
    if users:
        raise BerthError(
            ErrorCode.CONFLICT,
            f"alias {alias!r} of {model!r} is used by endpoint(s) {', '.join(sorted(users))}; "
            "change them first",
            model=model,
            alias=alias,
            endpoints=sorted(users),
        )


def _strings(value: Any) -> set[str]:
    """Every string in a JSON value (the pipeline's custom step references among them)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def load_endpoints(conn: Connection) -> dict[str, Endpoint]:
    """Every endpoint by name (for the registry snapshot a server routes by)."""
    return {e.name: e for e in load_endpoints_list(conn)}


def load_endpoints_list(conn: Connection) -> list[Endpoint]:
    return [endpoint_from_row(r) for r in conn.execute(select(endpoints).order_by(endpoints.c.name))]


def endpoint_from_row(row: Row[Any]) -> Endpoint:
    return Endpoint(
        name=row.name,
        team=row.team,
        description=row.description,
        spec=EndpointSpec.from_json(row.spec),
        revision=int(row.revision),
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    stmt = select(endpoints).where(endpoints.c.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one_or_none()
    if row is None:
        raise BerthError(ErrorCode.ENDPOINT_NOT_FOUND, f"endpoint {name!r} not found", endpoint=name)
    return row


def _append_event(
    conn: Connection,
    endpoint: Row[Any],
    revision: int,
    kind: str,
    before: EndpointSpec | None,
    after: EndpointSpec | None,
    actor: str,
    reason: str,
) -> EndpointEvent:
    name = str(endpoint.name)
    event = EndpointEvent(name, revision, kind, before, after, actor, reason, q.now())
    record_event(
        conn,
        f"endpoint.{kind}",
        "endpoint",
        name,
        before=before.to_json() if before else None,
        after=after.to_json() | {"revision": revision, "reason": reason} if after else None,
        actor=actor,
    )
    conn.execute(
        insert(endpoint_events).values(
            endpoint=name,
            endpoint_uid=endpoint.uid,
            revision=revision,
            kind=kind,
            spec_before=before.to_json() if before else None,
            spec_after=after.to_json() if after else None,
            actor=checked_text("actor", actor),
            reason=checked_text("reason", reason),
            at=event.at,
        )
    )
    return event


def _event_from_row(row: Row[Any]) -> EndpointEvent:
    return EndpointEvent(
        endpoint=row.endpoint,
        revision=int(row.revision),
        kind=row.kind,
        spec_before=EndpointSpec.from_json(row.spec_before) if row.spec_before is not None else None,
        spec_after=EndpointSpec.from_json(row.spec_after) if row.spec_after is not None else None,
        actor=row.actor,
        reason=row.reason,
        at=row.at,
    )
