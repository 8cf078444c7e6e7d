"""Serving groups in the registry database: the group of each model and endpoint, and the status
each serving replica reports every heartbeat (`berth.core.serving_groups`).

An assignment bumps the registry's change counter in its transaction (every replica's reconciler
sees it at its next poll, or at once through PostgreSQL's notification) and is audited
(``group.assign``, with the group before and after).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.errors import BerthError, ErrorCode
from berth.core.serving_groups import Assignment, ReplicaStatus, Role, check_group_name
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import endpoints, models, serving_replicas
from berth.storage.transactions import run_transaction


class SqlServingGroups:
    """Assignments and replica statuses, on the registry's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def assign(self, name: str, group: str, *, actor: str = "", reason: str = "") -> Assignment:
        """Put the model or endpoint `name` in serving group `group` (MODEL_NOT_FOUND when neither
        exists); nothing changes when it is already there."""
        check_group_name(group)

        def work(conn: Connection) -> Assignment:
            for kind, table in (("model", models), ("endpoint", endpoints)):
                row = conn.execute(
                    select(table.c.id, table.c.serving_group).where(table.c.name == name)
                ).first()
                if row is None:
                    continue
                if row.serving_group != group:
                    conn.execute(update(table).where(table.c.id == row.id).values(serving_group=group))
                    q.bump_generation(conn)
                    record_event(
                        conn,
                        "group.assign",
                        kind,
                        name,
                        before={"group": row.serving_group},
                        after={"group": group, "reason": reason},
                        actor=actor,
                    )
                return Assignment(name=name, kind=kind, group=group)
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"no model or endpoint {name!r}", model=name)

        return run_transaction(self._engine, work, write=True)

    def assignments(self) -> list[Assignment]:
        """The group of every model and endpoint, by name."""

        def work(conn: Connection) -> list[Assignment]:
            found = [
                Assignment(name=r.name, kind=kind, group=r.serving_group)
                for kind, table in (("model", models), ("endpoint", endpoints))
                for r in conn.execute(select(table.c.name, table.c.serving_group))
            ]
            return sorted(found, key=lambda a: a.name)

        return run_transaction(self._engine, work)

    def heartbeat(self, status: ReplicaStatus) -> None:
        """Record what a replica reports now (insert or replace its row)."""
        values: dict[str, Any] = {
            "replica_id": status.replica_id,
            "role": status.role.value,
            "serving_group": status.group,
            "url": status.url,
            "grpc_url": status.grpc_url,
            "started_at": status.started_at,
            "heartbeat_at": status.heartbeat_at,
            "ready": sorted(status.ready),
        }
        changing = {k: v for k, v in values.items() if k not in ("replica_id", "started_at")}

        def work(conn: Connection) -> None:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(serving_replicas).values(**values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["replica_id"], set_=changing))

        run_transaction(self._engine, work, write=True)

    def replicas(self, *, live_within: timedelta, now: datetime | None = None) -> list[ReplicaStatus]:
        """The replicas whose last heartbeat is at most `live_within` old, by id."""
        cutoff = (now or q.now()) - live_within

        def work(conn: Connection) -> list[ReplicaStatus]:
            rows = conn.execute(
                select(serving_replicas)
                .where(serving_replicas.c.heartbeat_at >= cutoff)
                .order_by(serving_replicas.c.replica_id)
            )
            return [_status(r) for r in rows]

        return run_transaction(self._engine, work)

    def forget(self, replica_id: str) -> None:
        """Remove a replica's row (it stops: callers should not be sent there)."""
        run_transaction(
            self._engine,
            lambda conn: conn.execute(
                delete(serving_replicas).where(serving_replicas.c.replica_id == replica_id)
            ),
            write=True,
        )

    def forget_older_than(self, age: timedelta) -> int:
        """Remove the rows of replicas silent for longer than `age` (crashed ones); how many went."""
        cutoff = q.now() - age
        result = run_transaction(
            self._engine,
            lambda conn: conn.execute(
                delete(serving_replicas).where(serving_replicas.c.heartbeat_at < cutoff)
            ),
            write=True,
        )
        return int(result.rowcount or 0)


def _status(row: Any) -> ReplicaStatus:
    return ReplicaStatus(
        replica_id=row.replica_id,
        role=Role(row.role),
        group=row.serving_group,
        url=row.url,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        ready=frozenset(row.ready),
        grpc_url=row.grpc_url,
    )


def load_groups(conn: Connection) -> dict[str, str]:
    """The serving group of every model and endpoint, by name (for the registry snapshot)."""
    return {
        str(r.name): str(r.serving_group)
        for table in (models, endpoints)
        for r in conn.execute(select(table.c.name, table.c.serving_group))
    }
