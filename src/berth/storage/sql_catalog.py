"""`SqlCatalogStore`: the catalog every team searches (SQLite or PostgreSQL), and endpoint visibility.

A search is one statement per model and endpoint table, joined with UNION ALL, that the viewer's
rights filter *in SQL* (its teams, the names granted to it, or a discoverable visibility): what a
viewer may not find never reaches Python, so it cannot leak through a total, a facet or a page.
Two queries answer a search: one GROUP BY (kind, team, task, flavor, visibility) gives the total
and every facet, one gives the page; a third adds the page's calls over the last 30 days.

Text search matches every query word as a substring of ``models.search_text`` (kept by the
registry, `berth.storage.catalog_text`) or of an endpoint's lower-cased name and description.
A substring scan of 10,000 rows stays in single-digit milliseconds on both databases
(bench/catalog_bench.py), so no full-text index is kept: it would not find parts of words
("churn" in "churn-v2", metric names) and would differ between SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)

from berth.core.access import Visibility
from berth.core.catalog import (
    USAGE_DAYS,
    CatalogDetail,
    CatalogEntry,
    CatalogPage,
    CatalogQuery,
    CatalogSort,
    CatalogVersion,
    Viewer,
    query_words,
)
from berth.core.cursors import decode_cursor, encode_cursor, query_binding
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_cards import completeness
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.rows import stored_signature
from berth.storage.schema import consumer_usage, endpoints, models, versions
from berth.storage.transactions import run_transaction

FACETS = ("kind", "team", "task", "visibility")


class SqlCatalogStore:
    """The catalog over the registry's database (an engine shared with the registry store)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def search(self, query: CatalogQuery, viewer: Viewer, *, today: datetime | None = None) -> CatalogPage:
        """The entries `viewer` may find that match every filter of `query`, a page at a time."""
        query = query.checked()
        binding = query_binding(
            query.text, query.team, query.flavor, query.task, query.visibility, query.kind, query.sort
        )
        offset = 0
        if query.cursor:
            position = decode_cursor(query.cursor, "catalog", binding)
            if len(position) != 1 or not isinstance(position[0], int) or position[0] < 0:
                raise BerthError(ErrorCode.INVALID_CURSOR, "invalid cursor: malformed cursor")
            offset = position[0]
        since = _usage_since(today)

        def work(conn: Connection) -> CatalogPage:
            counted = _matching(conn, query, viewer, since, usage=False).subquery("entries")
            grouped = select(*(counted.c[f] for f in FACETS), func.count().label("n")).group_by(
                *(counted.c[f] for f in FACETS)
            )
            facets: dict[str, dict[str, int]] = {f: {} for f in FACETS}
            total = 0
            for group in conn.execute(grouped):
                total += int(group.n)
                for f in FACETS:
                    value = getattr(group, f)
                    if value:
                        facets[f][value] = facets[f].get(value, 0) + int(group.n)
            rows = _matching(conn, query, viewer, since, usage=query.sort == CatalogSort.USAGE).subquery()
            page = list(
                conn.execute(
                    select(rows).order_by(*_order(rows, query.sort, conn)).limit(query.limit).offset(offset)
                )
            )
            entries = _entries(conn, page, since)
            more = offset + len(page) < total
            cursor = encode_cursor("catalog", binding, [offset + len(page)]) if more and page else None
            return CatalogPage(tuple(entries), total, facets, cursor)

        return run_transaction(self._engine, work, snapshot=True)

    def detail(self, name: str, *, today: datetime | None = None) -> CatalogDetail:
        """The catalog entry of the model or endpoint `name` (whoever may DISCOVER it: the caller
        checks), with every version; MODEL_NOT_FOUND when there is none."""
        since = _usage_since(today)

        def work(conn: Connection) -> CatalogDetail:
            for part in (_models_part(since, usage=False), _endpoints_part(since, usage=False)):
                row = conn.execute(part.where(_name_column(part) == name)).first()
                if row is not None:
                    entry = _entries(conn, [row], since)[0]
                    return _detail(conn, entry) if entry.kind == "model" else CatalogDetail(entry)
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {name!r} not found", model=name)

        return run_transaction(self._engine, work, snapshot=True)

    def set_endpoint_visibility(self, name: str, visibility: str) -> str:
        """Make the endpoint `name` private or discoverable (audited; servers reload their access
        table); ENDPOINT_NOT_FOUND when there is none. Returns the visibility it has now."""
        value = Visibility.parse(visibility).value

        def work(conn: Connection) -> str:
            row = conn.execute(
                select(endpoints.c.id, endpoints.c.visibility)
                .where(endpoints.c.name == name)
                .with_for_update()
            ).first()
            if row is None:
                raise BerthError(ErrorCode.ENDPOINT_NOT_FOUND, f"endpoint {name!r} not found", endpoint=name)
            if row.visibility != value:
                conn.execute(update(endpoints).where(endpoints.c.id == row.id).values(visibility=value))
                record_event(
                    conn,
                    "endpoint.visibility",
                    "endpoint",
                    name,
                    before={"visibility": row.visibility},
                    after={"visibility": value},
                )
                q.bump_generation(conn)
            return value

        return run_transaction(self._engine, work, write=True)


def _usage_since(today: datetime | None) -> str:
    day = (today or datetime.now(UTC)).astimezone(UTC) - timedelta(days=USAGE_DAYS - 1)
    return day.strftime("%Y-%m-%d")


def _newest_flavor() -> Any:
    return (
        select(versions.c.flavor)
        .where(versions.c.model_id == models.c.id)
        .order_by(versions.c.number.desc())
        .limit(1)
        .scalar_subquery()
    )


def _with_usage(part: Select[Any], table: Any, called: Any, since: str) -> Select[Any]:
    """`part` with its ``usage`` column the calls since `since` where the usage column `called`
    names the row: one aggregate of the recent usage, joined (a correlated sum per row costs a
    look-up per model: 5 times slower on 10,000 models)."""
    totals = (
        select(called.label("called"), func.sum(consumer_usage.c.calls).label("calls"))
        .where(consumer_usage.c.day >= since)
        .group_by(called)
        .subquery()
    )
    return part.with_only_columns(
        *(c for c in part.selected_columns if c.name != "usage"),
        func.coalesce(totals.c.calls, 0).label("usage"),
    ).select_from(table.outerjoin(totals, totals.c.called == table.c.name))


def _models_part(since: str, *, usage: bool) -> Select[Any]:
    part = select(
        literal("model").label("kind"),
        models.c.id.label("id"),
        models.c.name.label("name"),
        models.c.team.label("team"),
        models.c.description.label("description"),
        models.c.contact.label("contact"),
        models.c.visibility.label("visibility"),
        models.c.task.label("task"),
        models.c.updated_at.label("updated_at"),
        literal(0).label("usage"),
    )
    return _with_usage(part, models, consumer_usage.c.model, since) if usage else part


def _endpoints_part(since: str, *, usage: bool) -> Select[Any]:
    part = select(
        literal("endpoint").label("kind"),
        endpoints.c.id.label("id"),
        endpoints.c.name.label("name"),
        endpoints.c.team.label("team"),
        endpoints.c.description.label("description"),
        literal("").label("contact"),
        endpoints.c.visibility.label("visibility"),
        literal("").label("task"),
        endpoints.c.updated_at.label("updated_at"),
        literal(0).label("usage"),
    )
    return _with_usage(part, endpoints, consumer_usage.c.endpoint, since) if usage else part


def _name_column(part: Select[Any]) -> Any:
    return part.selected_columns.name


def _visible(table: Any, viewer: Viewer) -> ColumnElement[bool] | None:
    if viewer.everything:
        return None
    return or_(
        table.c.team.in_(sorted(viewer.teams)),
        table.c.name.in_(sorted(viewer.granted)),
        table.c.visibility == Visibility.DISCOVERABLE.value,
    )


def _has_word(conn: Connection, text: Any, word: str) -> ColumnElement[bool]:
    """`word` is in `text` (both lower-cased): a plain substring test, no pattern (instr/strpos
    are several times faster than SQLite's case-insensitive LIKE, and need no escaping)."""
    found = func.strpos(text, word) if conn.dialect.name == "postgresql" else func.instr(text, word)
    return found > 0


def _matching(conn: Connection, query: CatalogQuery, viewer: Viewer, since: str, *, usage: bool) -> Any:
    words = query_words(query.text)
    parts = []
    if query.kind in (None, "model"):
        part = _models_part(since, usage=usage)
        conditions = [_visible(models, viewer)]
        conditions += [_has_word(conn, models.c.search_text, w) for w in words]
        if query.team is not None:
            conditions.append(models.c.team == query.team)
        if query.visibility is not None:
            conditions.append(models.c.visibility == Visibility.parse(query.visibility).value)
        if query.task is not None:
            conditions.append(models.c.task == query.task.lower())
        if query.flavor is not None:
            conditions.append(_newest_flavor() == query.flavor)
        parts.append(part.where(*(c for c in conditions if c is not None)))
    if query.kind in (None, "endpoint") and query.flavor is None and query.task is None:
        part = _endpoints_part(since, usage=usage)
        text = func.lower(endpoints.c.name + literal(" ") + endpoints.c.description)
        conditions = [_visible(endpoints, viewer)]
        conditions += [_has_word(conn, text, w) for w in words]
        if query.team is not None:
            conditions.append(endpoints.c.team == query.team)
        if query.visibility is not None:
            conditions.append(endpoints.c.visibility == Visibility.parse(query.visibility).value)
        parts.append(part.where(*(c for c in conditions if c is not None)))
    if not parts:  # an endpoint-only search with a model filter: nothing matches
        return _endpoints_part(since, usage=usage).where(false())
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _order(rows: Any, sort: str, conn: Connection) -> Sequence[Any]:
    name = rows.c.name.collate("C") if conn.dialect.name == "postgresql" else rows.c.name
    if sort == CatalogSort.RECENT:
        return (rows.c.updated_at.desc(), name, rows.c.kind)
    if sort == CatalogSort.USAGE:
        return (rows.c.usage.desc(), name, rows.c.kind)
    return (name, rows.c.kind)


def _entries(conn: Connection, rows: Sequence[Any], since: str) -> list[CatalogEntry]:
    """The entries of a page's rows: their tags, versions, aliases, card completeness, targets
    and calls, read in a few queries for the whole page."""
    model_ids = [r.id for r in rows if r.kind == "model"]
    endpoint_ids = [r.id for r in rows if r.kind == "endpoint"]
    latest, alias_maps = q.latest_numbers(conn, model_ids), q.alias_map(conn, model_ids)
    tags = {
        r.id: r.tags
        for r in conn.execute(select(models.c.id, models.c.tags).where(models.c.id.in_(model_ids)))
    }
    newest = (
        select(versions.c.model_id, func.max(versions.c.number).label("number"))
        .where(versions.c.model_id.in_(model_ids))
        .group_by(versions.c.model_id)
        .subquery()
    )
    joined = and_(versions.c.model_id == newest.c.model_id, versions.c.number == newest.c.number)
    newest_rows = conn.execute(
        select(versions.c.model_id, versions.c.flavor, versions.c.card).join(newest, joined)
    )
    cards, flavors = {}, {}
    for v in newest_rows:
        cards[v.model_id], flavors[v.model_id] = v.card, v.flavor
    specs = {
        r.id: r.spec
        for r in conn.execute(
            select(endpoints.c.id, endpoints.c.spec).where(endpoints.c.id.in_(endpoint_ids))
        )
    }
    calls = _calls(
        conn,
        [r.name for r in rows if r.kind == "model"],
        [r.name for r in rows if r.kind == "endpoint"],
        since,
    )
    found = []
    for r in rows:
        common: dict[str, Any] = {
            "kind": r.kind,
            "name": r.name,
            "team": r.team,
            "description": r.description,
            "visibility": r.visibility,
            "updated_at": r.updated_at,
            "contact": r.contact,
            "calls_30d": calls.get((r.kind, r.name), 0),
        }
        if r.kind == "model":
            found.append(
                CatalogEntry(
                    **common,
                    task=r.task,
                    flavor=flavors.get(r.id, ""),
                    tags=dict(tags.get(r.id) or {}),
                    latest_version=latest.get(r.id),
                    aliases=dict(sorted(alias_maps.get(r.id, {}).items())),
                    card=completeness(cards.get(r.id)),
                )
            )
        else:
            targets = (specs.get(r.id) or {}).get("targets", [])
            found.append(
                CatalogEntry(
                    **common,
                    targets=tuple(
                        {"target": str(t.get("target")), "weight": t.get("weight")} for t in targets
                    ),
                )
            )
    return found


def _calls(
    conn: Connection, model_names: list[str], endpoint_names: list[str], since: str
) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    recent = consumer_usage.c.day >= since
    for kind, column, names in (
        ("model", consumer_usage.c.model, model_names),
        ("endpoint", consumer_usage.c.endpoint, endpoint_names),
    ):
        if names:
            stmt = (
                select(column, func.sum(consumer_usage.c.calls))
                .where(recent, column.in_(names))
                .group_by(column)
            )
            for name, n in conn.execute(stmt):
                found[kind, name] = int(n or 0)
    return found


def _detail(conn: Connection, entry: CatalogEntry) -> CatalogDetail:
    row = q.model_row(conn, entry.name)
    by_version: dict[int, list[str]] = {}
    for alias, number in q.alias_map(conn, [row.id]).get(row.id, {}).items():
        by_version.setdefault(number, []).append(alias)
    stmt = (
        select(
            versions.c.number,
            versions.c.flavor,
            versions.c.created_at,
            versions.c.metrics,
            versions.c.card,
            versions.c.signature,
            versions.c.input_example,
        )
        .where(versions.c.model_id == row.id)
        .order_by(versions.c.number)
    )
    found = list(conn.execute(stmt))
    history = tuple(
        CatalogVersion(
            number=v.number,
            flavor=v.flavor,
            created_at=v.created_at,
            aliases=tuple(sorted(by_version.get(v.number, ()))),
            metrics=dict(v.metrics),
            card=completeness(v.card),
        )
        for v in found
    )
    newest = found[-1] if found else None
    return CatalogDetail(
        entry,
        history,
        card=None if newest is None or newest.card is None else dict(newest.card),
        signature=None if newest is None else stored_signature(newest.signature),
        stored_example=None if newest is None or newest.input_example is None else dict(newest.input_example),
    )
