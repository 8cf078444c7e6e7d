"""The audit trail: append-only events, written in the transaction of the change they record.

`record_event` is called by the stores inside their own write transactions (so a change and its
event commit together); `SqlAuditStore` only reads: nothing in berth updates or deletes an event.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Engine, Row, insert, select
from sqlalchemy.engine import URL

from berth.core.audit import AuditEvent, AuditQuery, current_audit_context
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.db import create_database_engine
from berth.storage.schema import audit_events
from berth.storage.transactions import run_transaction

MAX_PAGE: Final = 10_000
EXPORT_COLUMNS: Final = (
    "id",
    "at",
    "actor",
    "action",
    "resource_type",
    "resource_name",
    "before",
    "after",
    "request_id",
)


def record_event(
    conn: Connection,
    action: str,
    resource_type: str,
    resource_name: str,
    *,
    before: Any = None,
    after: Any = None,
    actor: str = "",
) -> None:
    """Append one event in the caller's transaction. The actor is the authenticated principal of the
    current context when there is one, else `actor` (what the caller said), else 'unknown'."""
    context = current_audit_context()
    who = (context.actor if context is not None and context.actor else actor) or "unknown"
    conn.execute(
        insert(audit_events).values(
            at=q.now(),
            actor=who[:255],
            action=action,
            resource_type=resource_type,
            resource_name=resource_name[:255],
            before=_jsonable(before),
            after=_jsonable(after),
            request_id=(context.request_id if context is not None else "")[:128],
        )
    )


def _jsonable(value: Any) -> Any:
    return None if value is None else orjson.loads(orjson.dumps(value, default=str))


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        id=int(row.id),
        at=row.at,
        actor=row.actor,
        action=row.action,
        resource_type=row.resource_type,
        resource_name=row.resource_name,
        before=row.before,
        after=row.after,
        request_id=row.request_id,
    )


class SqlAuditStore:
    """Reads the audit trail of a registry database (given by URL or engine)."""

    def __init__(self, url_or_engine: str | URL | Engine) -> None:
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self._engine = (
            url_or_engine if isinstance(url_or_engine, Engine) else create_database_engine(url_or_engine)
        )

    def query(self, query: AuditQuery) -> list[AuditEvent]:
        """The events matching `query`, oldest first, at most `query.limit` (at most 10,000)."""
        if not 1 <= query.limit <= MAX_PAGE or query.after_id < 0:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"limit is 1 to {MAX_PAGE}; after_id is not negative")
        stmt = select(audit_events).where(audit_events.c.id > query.after_id)
        if query.actor is not None:
            stmt = stmt.where(audit_events.c.actor == query.actor)
        if query.action is not None:
            if query.action.endswith("."):
                stmt = stmt.where(audit_events.c.action.startswith(query.action, autoescape=True))
            else:
                stmt = stmt.where(audit_events.c.action == query.action)
        if query.resource_type is not None:
            stmt = stmt.where(audit_events.c.resource_type == query.resource_type)
        if query.resource_name is not None:
            stmt = stmt.where(audit_events.c.resource_name == query.resource_name)
        if query.since is not None:
            stmt = stmt.where(audit_events.c.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(audit_events.c.at < query.until)
        stmt = stmt.order_by(audit_events.c.id).limit(query.limit)
        return run_transaction(self._engine, lambda conn: [_event(r) for r in conn.execute(stmt)])

    def export(self, query: AuditQuery, fmt: str) -> Iterator[bytes]:
        """Every matching event (page after page) as JSON lines (``jsonl``) or CSV (``csv``)."""
        if fmt not in ("jsonl", "csv"):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"unknown export format {fmt!r}: use jsonl or csv")
        if fmt == "csv":
            yield _csv_line(EXPORT_COLUMNS)
        after = query.after_id
        while True:
            page = AuditQuery(
                actor=query.actor,
                action=query.action,
                resource_type=query.resource_type,
                resource_name=query.resource_name,
                since=query.since,
                until=query.until,
                after_id=after,
                limit=MAX_PAGE,
            )
            events = self.query(page)
            for event in events:
                record = event.as_dict()
                if fmt == "jsonl":
                    yield orjson.dumps(record) + b"\n"
                else:
                    yield _csv_line(
                        [
                            orjson.dumps(record[c]).decode() if c in ("before", "after") else record[c]
                            for c in EXPORT_COLUMNS
                        ]
                    )
            if len(events) < MAX_PAGE:
                return
            after = events[-1].id

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


def _csv_line(values: Any) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue().encode()
