"""`SqlRegistryStore`: the registry store on SQLite or PostgreSQL (see `berth.storage.protocols`).

Every mutation runs in one write transaction that locks the model's row (PostgreSQL: FOR UPDATE;
SQLite: the database write lock, taken at BEGIN IMMEDIATE) and bumps the change counter, so
version numbers are gap-free under concurrent pushes and servers see every change.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Collection, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, exists, insert, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from berth.core.entities import (
    LATEST,
    AliasEvent,
    Model,
    NewVersion,
    RegistrySnapshot,
    SnapshotScope,
    Version,
    check_alias_name,
    check_model_name,
)
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.catalog_text import catalog_values, refresh_catalog_columns
from berth.storage.db import create_database_engine
from berth.storage.loading import (
    alias_not_found,
    load_model,
    load_models,
    load_snapshot,
    load_version,
    resolve_number,
)
from berth.storage.migrate import upgrade_database
from berth.storage.protocols import RegistryStore
from berth.storage.rows import (
    checked_number,
    checked_team,
    checked_text,
    event_from_row,
    metadata_from_row,
    metadata_values,
    new_version_values,
    string_tags,
    version_from_row,
)
from berth.storage.schema import alias_events, aliases, models, versions
from berth.storage.security_store import ensure_team, require_team
from berth.storage.sql_endpoints import refuse_alias_in_use
from berth.storage.transactions import database_errors, run_transaction


class SqlRegistryStore:
    """The registry in a SQL database, given by URL (``sqlite:///…``, ``postgresql://…``) or engine.

    Opening it migrates the database to the newest schema (unless `migrate` is False). An engine
    passed in stays the caller's to dispose; one made from a URL is disposed by `close`.
    """

    def __init__(self, url_or_engine: str | URL | Engine, *, migrate: bool = True) -> None:
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self._engine = (
            url_or_engine if isinstance(url_or_engine, Engine) else create_database_engine(url_or_engine)
        )
        if migrate:
            try:
                with database_errors():
                    upgrade_database(self._engine)
            except BaseException:
                self.close()
                raise

    # models

    def create_model(
        self,
        name: str,
        *,
        team: str = "default",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Model:
        check_model_name(name)
        values = {
            "name": name,
            "team": checked_team(team),
            "description": checked_text("description", description),
            "tags": string_tags("tags", tags),
            **catalog_values(visibility=visibility, contact=contact),
        }

        def work(conn: Connection) -> Model:
            at = q.now()
            q.refuse_endpoint_name(conn, name)
            try:
                conn.execute(insert(models).values(**values, created_at=at, updated_at=at))
            except IntegrityError:
                raise BerthError(
                    ErrorCode.ALREADY_EXISTS, f"model {name!r} already exists", model=name
                ) from None
            ensure_team(conn, str(values["team"]))
            created = q.model_row(conn, name)
            refresh_catalog_columns(conn, created.id)
            record_event(conn, "model.create", "model", name, after=_model_state(values))
            q.bump_generation(conn)
            return load_model(conn, q.model_row(conn, name))

        return run_transaction(self._engine, work, write=True)

    def get_model(self, name: str) -> Model:
        check_model_name(name)
        return run_transaction(self._engine, lambda conn: load_model(conn, q.model_row(conn, name)))

    def update_model(
        self,
        name: str,
        *,
        team: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Model:
        check_model_name(name)
        values: dict[str, Any] = catalog_values(visibility=visibility, contact=contact)
        if team is not None:
            values["team"] = checked_team(team)
        if description is not None:
            values["description"] = checked_text("description", description)
        if tags is not None:
            values["tags"] = string_tags("tags", tags)

        def work(conn: Connection) -> Model:
            row = q.model_row(conn, name, lock=True)
            conn.execute(update(models).where(models.c.id == row.id).values(**values, updated_at=q.now()))
            if "team" in values:
                require_team(conn, values["team"])
            refresh_catalog_columns(conn, row.id)
            before = _model_state(dict(row._mapping))
            record_event(conn, "model.update", "model", name, before=before, after={**before, **values})
            q.bump_generation(conn)
            return load_model(conn, q.model_row(conn, name))

        return run_transaction(self._engine, work, write=True)

    def list_models(
        self,
        *,
        text: str | None = None,
        team: str | None = None,
        tags: Mapping[str, str] | None = None,
        flavor: str | None = None,
        limit: int = 100,
        offset: int = 0,
        teams: Collection[str] | None = None,
    ) -> list[Model]:
        """Models matching every filter given: `text` in name or description (case-insensitive),
        exact team, every tag key=value, at least one version of `flavor`, a team among `teams`
        (what the caller may read); sorted by name."""
        if limit < 0 or offset < 0:
            raise BerthError(ErrorCode.INVALID_REQUEST, "limit and offset must not be negative")
        wanted_tags = string_tags("tags", tags)

        def work(conn: Connection) -> list[Model]:
            name = models.c.name.collate("C") if conn.dialect.name == "postgresql" else models.c.name
            stmt = select(models).order_by(name)
            if text:
                stmt = stmt.where(
                    or_(
                        models.c.name.icontains(text, autoescape=True),
                        models.c.description.icontains(text, autoescape=True),
                    )
                )
            if team is not None:
                stmt = stmt.where(models.c.team == team)
            if teams is not None:
                stmt = stmt.where(models.c.team.in_(sorted(teams)))
            if flavor is not None:
                has_flavor = (versions.c.model_id == models.c.id) & (versions.c.flavor == flavor)
                stmt = stmt.where(exists().where(has_flavor))
            if wanted_tags:  # JSON tags are matched here, so the page is cut after matching
                rows = [r for r in conn.execute(stmt) if _has_tags(r.tags, wanted_tags)]
                rows = rows[offset : offset + limit]
            else:
                rows = list(conn.execute(stmt.limit(limit).offset(offset)))
            return load_models(conn, rows)

        return run_transaction(self._engine, work)

    # versions

    def create_version(
        self,
        name: str,
        new: NewVersion,
        *,
        create_model: bool = True,
        team: str = "default",
        expected_team: str | None = None,
        aliases: Sequence[str] = (),
        visibility: str | None = None,
        contact: str | None = None,
    ) -> Version:
        """Append a version numbered one past the model's highest (1 for the first), atomically even
        under concurrent pushes. Creates the model (owned by `team`) when missing and `create_model`.

        `expected_team`: the team the push was authorized for. The model's team is checked in the
        transaction that appends the version: when the model belongs to another team by then (it was
        created or moved meanwhile), the answer is MODEL_NOT_FOUND, as for a model the caller may not
        see. `aliases` are pointed at the new version in the same transaction, and the model's
        `visibility` and `contact` set (when given: an audited model update)."""
        check_model_name(name)
        for alias in aliases:
            check_alias_name(alias)
        values = new_version_values(new)
        owner = checked_team(team)
        who = checked_text("actor", new.pushed_by)
        model_values = catalog_values(visibility=visibility, contact=contact)

        def work(conn: Connection) -> Version:
            at = q.now()
            row = q.find_model_row(conn, name, lock=True)
            if row is None and create_model:
                q.insert_model_if_missing(
                    conn,
                    {"name": name, "team": owner, "description": "", "tags": {}}
                    | {"created_at": at, "updated_at": at},
                )
                ensure_team(conn, owner)
                row = q.find_model_row(conn, name, lock=True)
            if row is None or (expected_team is not None and row.team != expected_team):
                raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {name!r} not found", model=name)
            number = (q.latest_number(conn, row.id) or 0) + 1
            conn.execute(insert(versions).values(**values, model_id=row.id, number=number, created_at=at))
            conn.execute(update(models).where(models.c.id == row.id).values(**model_values, updated_at=at))
            changed = {k: v for k, v in model_values.items() if row._mapping[k] != v}
            if changed:
                before = {k: row._mapping[k] for k in changed}
                record_event(conn, "model.update", "model", name, before=before, after=changed, actor=who)
            refresh_catalog_columns(conn, row.id)
            _record_push(conn, name, number, new)
            for alias in aliases:
                _point_alias(conn, row, alias, number, who, "push")
            q.bump_generation(conn)
            return version_from_row(q.version_row(conn, row, number), model=name)

        return run_transaction(self._engine, work, write=True)

    def get_version(self, name: str, number: int) -> Version:
        check_model_name(name)
        checked_number(number)

        def work(conn: Connection) -> Version:
            return load_version(conn, q.model_row(conn, name), number)

        return run_transaction(self._engine, work)

    def list_versions(self, name: str) -> list[Version]:
        """All versions of a model, oldest first."""
        check_model_name(name)

        def work(conn: Connection) -> list[Version]:
            row = q.model_row(conn, name)
            by_version: dict[int, list[str]] = {}
            for alias, number in q.alias_map(conn, [row.id]).get(row.id, {}).items():
                by_version.setdefault(number, []).append(alias)
            stmt = select(versions).where(versions.c.model_id == row.id).order_by(versions.c.number)
            return [
                version_from_row(v, model=name, aliases=by_version.get(v.number, ()))
                for v in conn.execute(stmt)
            ]

        return run_transaction(self._engine, work)

    def resolve(self, name: str, ref: str | None) -> Version:
        """The version a reference names: a number ("3"), an alias ("production"), "latest", or None
        (the model's 'production' alias when it has one, else its latest version)."""
        check_model_name(name)
        if ref is not None and not isinstance(ref, str):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"a version reference is a string, got {ref!r}")
        if ref is not None and not (ref.isascii() and ref.isdigit()) and ref != LATEST:
            check_alias_name(ref)

        def work(conn: Connection) -> Version:
            row = q.model_row(conn, name)
            return load_version(conn, row, resolve_number(conn, row, ref))

        return run_transaction(self._engine, work)

    def update_version_metadata(self, name: str, number: int, update: Mapping[str, Any]) -> Version:
        """Replace metadata fields (metrics, params, feature_importance, docs, training_data, tags)."""
        check_model_name(name)
        checked_number(number)
        if not isinstance(update, Mapping):
            raise BerthError(ErrorCode.INVALID_REQUEST, "a metadata update is a mapping of fields")

        def work(conn: Connection) -> Version:
            row = q.model_row(conn, name, lock=True)
            current = q.version_row(conn, row, number)
            values = metadata_values(metadata_from_row(current).merged(update))
            conn.execute(_update_version(current.id, values))
            refresh_catalog_columns(conn, row.id)
            record_event(
                conn,
                "version.metadata",
                "version",
                f"{name}:{number}",
                before={k: current._mapping[k] for k in values},
                after=values,
            )
            q.bump_generation(conn)
            return load_version(conn, row, number)

        return run_transaction(self._engine, work, write=True)

    # aliases

    def set_alias(
        self, name: str, alias: str, number: int, *, actor: str = "", reason: str = ""
    ) -> AliasEvent:
        """Point `alias` at version `number` (VERSION_NOT_FOUND when it does not exist) and record the
        move. Setting an alias to the version it already names changes nothing and records nothing."""
        check_model_name(name)
        check_alias_name(alias)
        checked_number(number)
        who, why = checked_text("actor", actor), checked_text("reason", reason)

        def work(conn: Connection) -> AliasEvent:
            row = q.model_row(conn, name, lock=True)
            q.version_row(conn, row, number)
            return _point_alias(conn, row, alias, number, who, why)

        return run_transaction(self._engine, work, write=True)

    def delete_alias(self, name: str, alias: str, *, actor: str = "", reason: str = "") -> AliasEvent:
        """Remove `alias` (ALIAS_NOT_FOUND when the model has no such alias) and record it."""
        check_model_name(name)
        check_alias_name(alias)
        who, why = checked_text("actor", actor), checked_text("reason", reason)

        def work(conn: Connection) -> AliasEvent:
            row = q.model_row(conn, name, lock=True)
            current = q.alias_row(conn, row.id, alias)
            if current is None:
                raise alias_not_found(name, alias)
            refuse_alias_in_use(conn, name, alias)
            conn.execute(delete(aliases).where(aliases.c.id == current.id))
            return _record_move(conn, row, alias, int(current.version_number), None, who, why)

        return run_transaction(self._engine, work, write=True)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of one alias (or of all aliases of the model), oldest first. An alias that
        never existed is ALIAS_NOT_FOUND; a model without aliases has an empty history."""
        check_model_name(name)
        if alias is not None:
            check_alias_name(alias)

        def work(conn: Connection) -> list[AliasEvent]:
            row = q.model_row(conn, name)
            stmt = select(alias_events).where(alias_events.c.model_id == row.id).order_by(alias_events.c.id)
            if alias is not None:
                stmt = stmt.where(alias_events.c.alias == alias)
            events = [event_from_row(e, model=name) for e in conn.execute(stmt)]
            if alias is not None and not events:
                raise alias_not_found(name, alias)
            return events

        return run_transaction(self._engine, work)

    # the whole registry

    def generation(self) -> int:
        """The change counter: it grows with every change of models, versions or aliases."""
        return run_transaction(self._engine, q.read_generation)

    def snapshot(self, scope: SnapshotScope | None = None) -> RegistrySnapshot:
        """Every version and alias (or those of the models in `scope`), read in one transaction, with
        the generation it was read at. Every model read is a key of both maps, also when it has no
        versions or aliases."""
        # Tens of thousands of objects are made at once: the cycle collector's passes over them
        # took half of a 10,000-model snapshot (bench/registry_scale_bench.py); nothing here makes
        # cycles, and reference counting frees as usual meanwhile.
        with paused_gc():
            return run_transaction(self._engine, partial(load_snapshot, scope=scope), snapshot=True)

    @property
    def engine(self) -> Engine:
        """The database engine, for the stores that share the registry's database."""
        return self._engine

    def close(self) -> None:
        """Release the database connections (of an engine this store made)."""
        if self._owns_engine:
            self._engine.dispose()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cycle collector off for a block (left as it was found)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _point_alias(
    conn: Connection, row: Row[Any], alias: str, number: int, actor: str, reason: str
) -> AliasEvent:
    """Point `alias` of the model `row` at its version `number` (which exists) and record the move;
    nothing changes and nothing is recorded when it already points there."""
    current = q.alias_row(conn, row.id, alias)
    at = q.now()
    if current is not None and current.version_number == number:
        return AliasEvent(row.name, alias, number, number, actor, at, reason)
    if current is None:
        conn.execute(
            insert(aliases).values(model_id=row.id, alias=alias, version_number=number, updated_at=at)
        )
    else:
        conn.execute(
            update(aliases).where(aliases.c.id == current.id).values(version_number=number, updated_at=at)
        )
    previous = None if current is None else int(current.version_number)
    return _record_move(conn, row, alias, previous, number, actor, reason)


def _record_move(
    conn: Connection, model: Row[Any], alias: str, old: int | None, new: int | None, actor: str, reason: str
) -> AliasEvent:
    event = AliasEvent(model.name, alias, old, new, actor, q.now(), reason)
    conn.execute(
        insert(alias_events).values(
            model_id=model.id,
            alias=alias,
            from_version=old,
            to_version=new,
            actor=actor,
            reason=reason,
            at=event.at,
        )
    )
    record_event(
        conn,
        "alias.set" if new is not None else "alias.delete",
        "alias",
        f"{model.name}@{alias}",
        before=None if old is None else {"version": old},
        after={"version": new, "reason": reason} if new is not None else {"reason": reason},
        actor=actor,
    )
    q.bump_generation(conn)
    return event


def _model_state(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("team", "description", "tags", "visibility", "contact") if k in values}


def _record_push(conn: Connection, name: str, number: int, new: NewVersion) -> None:
    after = {
        "number": number,
        "flavor": new.flavor,
        "sha256": new.artifact.sha256,
        "size": new.artifact.size,
        "trusted": new.trusted,
        "pushed_by": new.pushed_by,
        "source": new.source,
    }
    resource = f"{name}:{number}"
    record_event(conn, "version.push", "version", resource, after=after, actor=new.pushed_by)
    if new.trusted:  # the explicit trust that lets this version's pickle or code run when loaded
        record_event(conn, "version.trust", "version", resource, after={"trusted": True}, actor=new.pushed_by)


def _update_version(version_id: int, values: dict[str, Any]) -> Any:
    return update(versions).where(versions.c.id == version_id).values(**values)


def _has_tags(tags: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    return all(tags.get(k) == v for k, v in wanted.items())


def open_registry_store(url: str | URL) -> RegistryStore:
    """The registry store for a database URL (SQLite or PostgreSQL), migrated to the newest schema."""
    return SqlRegistryStore(url)
