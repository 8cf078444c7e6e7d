"""Rows that hang off a model or endpoint *name* (records, failed requests, feedback through the
records it judges, the alert log), read as those of the name's current holder only.

A name can be deleted and taken again, by another team. Records are not moved nor purged when an
endpoint is deleted (nothing a bank recorded is lost): they stay under the name, tied by time to
the holder that answered them. Every read of such rows adds `of_current_holder`:
rows recorded at or after the current model or endpoint of that name was created. A deleted
endpoint's records are thus invisible to the next holder of the name (and the next holder's to
the deleted endpoint's readers, who can no longer name it); a name nobody holds now, or one that
never changed hands, shows all of its rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, null, or_, select

from berth.core.endpoints import EndpointChange
from berth.storage.schema import endpoint_events, endpoints, models


def holder_created_at(name: ColumnElement[Any] | str) -> ColumnElement[Any]:
    """When the model or endpoint called `name` now was created, if the name had an earlier holder
    (an endpoint of that name was deleted); NULL when nothing has the name or it never changed hands
    (then every row of the name is the holder's own, also rows dated before its creation, e.g.
    imported ones)."""
    key = literal(name) if isinstance(name, str) else name
    changed_hands = (
        select(endpoint_events.c.id)
        .where(endpoint_events.c.endpoint == key, endpoint_events.c.kind == EndpointChange.DELETE)
        .exists()
    )
    created = func.coalesce(
        select(endpoints.c.created_at).where(endpoints.c.name == key).scalar_subquery(),
        select(models.c.created_at).where(models.c.name == key).scalar_subquery(),
    )
    return case((changed_hands, created), else_=null())


def of_current_holder(name: ColumnElement[Any] | str, at: ColumnElement[Any]) -> ColumnElement[bool]:
    """Rows named `name` (a column, or one name) and timed `at` that belong to the name's current
    holder: recorded since it was created when the name had an earlier holder; else every row."""
    started = holder_created_at(name)
    return or_(started.is_(None), at >= started)
