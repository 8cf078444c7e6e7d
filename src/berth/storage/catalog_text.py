"""Keeping a model's catalog columns true: ``models.search_text`` and ``models.task``.

The registry calls `refresh_catalog_columns` inside the transaction of every change that touches
what they are made of (`berth.core.catalog`): creating or updating a model, pushing a version,
updating a version's metadata. One read of the model and its newest version, one update.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from berth.core.access import Visibility
from berth.core.catalog import derive_task, search_text
from berth.core.errors import BerthError, ErrorCode
from berth.storage.rows import stored_signature
from berth.storage.schema import models, versions

MAX_CONTACT_CHARS = 1_000


def refresh_catalog_columns(conn: Connection, model_id: int) -> None:
    model = conn.execute(select(models).where(models.c.id == model_id)).one()
    newest = conn.execute(
        select(versions.c.flavor, versions.c.signature, versions.c.metrics, versions.c.card)
        .where(versions.c.model_id == model_id)
        .order_by(versions.c.number.desc())
        .limit(1)
    ).first()
    tags = dict(model.tags)
    task = derive_task(None if newest is None else stored_signature(newest.signature), tags)
    text = search_text(
        name=model.name,
        description=model.description,
        contact=model.contact,
        tags=tags,
        task=task,
        flavor="" if newest is None else newest.flavor,
        metric_names=() if newest is None else dict(newest.metrics),
        card=None if newest is None or newest.card is None else dict(newest.card),
    )
    if text != model.search_text or task != model.task:
        conn.execute(update(models).where(models.c.id == model_id).values(search_text=text, task=task))


def catalog_values(*, visibility: str | None, contact: str | None) -> dict[str, Any]:
    """The ``models`` columns a create, update or push sets (only those given), checked."""
    values: dict[str, Any] = {}
    if visibility is not None:
        values["visibility"] = Visibility.parse(visibility).value
    if contact is not None:
        if not isinstance(contact, str) or len(contact) > MAX_CONTACT_CHARS:
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"a contact is text of at most {MAX_CONTACT_CHARS} characters"
            )
        values["contact"] = contact.strip()
    return values
