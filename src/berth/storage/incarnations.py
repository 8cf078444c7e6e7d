"""Rows that hang off a model or endpoint *name* (records, failed requests, feedback), read as those
of the name's current holder only.

A name can be deleted and taken again, by another team. Records are not moved nor purged when an
endpoint is deleted (nothing a bank recorded is lost): they stay under the name, tied by time to
the holder that answered them. Every read of records through a name adds `of_current_holder`:
rows recorded at or after the current model or endpoint of that name was created. A deleted
endpoint's records are thus invisible to the next holder of the name (and the next holder's to
the deleted endpoint's readers, who can no longer name it); a name nobody holds now shows all of
its rows (only a platform admin can ask for it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select

from berth.storage.schema import endpoints, models


def holder_created_at(name: ColumnElement[Any] | str) -> ColumnElement[Any]:
    """When the model or endpoint called `name` now was created (NULL when nothing has the name)."""
    key = literal(name) if isinstance(name, str) else name
    return func.coalesce(
        select(endpoints.c.created_at).where(endpoints.c.name == key).scalar_subquery(),
        select(models.c.created_at).where(models.c.name == key).scalar_subquery(),
    )


def of_current_holder(name: ColumnElement[Any] | str, at: ColumnElement[Any]) -> ColumnElement[bool]:
    """Rows named `name` (a column, or one name) and timed `at` that belong to the name's current
    holder: recorded since it was created, or any time when nothing has the name now."""
    started = holder_created_at(name)
    return or_(started.is_(None), at >= started)
