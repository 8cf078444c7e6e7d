"""The audit trail's nouns: one event per state change, and who is acting in the current context.

The boundary that authenticates a caller (the server's auth layer, the CLI's embedded mode) sets
the `AuditContext` of the work it runs; the stores read it when they write an event, in the same
transaction as the change, so a change and its audit event are committed together or not at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts, and the request it belongs to (``x-request-id`` when the caller sent one)."""

    actor: str
    request_id: str = ""


_CONTEXT: ContextVar[AuditContext | None] = ContextVar("berth_audit_context", default=None)


def current_audit_context() -> AuditContext | None:
    return _CONTEXT.get()


def set_audit_context(context: AuditContext) -> None:
    """Set the acting principal for the rest of the current task (the server's auth layer)."""
    _CONTEXT.set(context)


@contextlib.contextmanager
def acting_as(actor: str, request_id: str = "") -> Iterator[None]:
    """Run the block as `actor` (the CLI's embedded mode, tests)."""
    token = _CONTEXT.set(AuditContext(actor, request_id))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded change: who did what to which resource, with its state before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    resource_type: str
    resource_name: str
    before: Any
    after: Any
    request_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
        }


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit trail; every one given must match. Events come oldest first."""

    actor: str | None = None
    action: str | None = None
    """An exact action (``alias.set``) or a prefix ending in a dot (``alias.``)."""
    resource_type: str | None = None
    resource_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int = 0
    limit: int = 1000
