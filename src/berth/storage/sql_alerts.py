"""Alert rules, their current state, and the alert log, in the registry database.

Several monitor processes may evaluate the same rules (one per server host): a state change is a
compare-and-set on the rule's revision (`transition`), so exactly one of them fires or resolves an
alert, logs it and calls its webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.incarnations import of_current_holder
from berth.storage.schema import alert_events, alert_rules
from berth.storage.transactions import run_transaction

MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule's JSON (secret included) with its state."""

    spec: dict[str, Any]
    uid: str
    """The rule's identity: a rule deleted and created again under its name is another rule."""
    state: str
    last_value: float | None
    evaluated_at: datetime | None
    state_changed_at: datetime | None
    revision: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    rule: str
    target: str
    kind: str
    value: float
    message: str
    at: datetime
    delivery: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """The API's view of an alert log entry."""
        return {
            "id": self.id,
            "rule": self.rule,
            "target": self.target,
            "kind": self.kind,
            "value": self.value,
            "message": self.message,
            "fired_at": self.at.isoformat(),
            "delivery": public_delivery(self.delivery),
        }


def public_delivery(delivery: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What anyone may see of a webhook delivery: delivered or not, attempts, the HTTP status
    class. Never the error text (an internal network's answers are not for readers), whatever an
    older version of berth stored."""
    if delivery is None:
        return None
    status = delivery.get("status")
    status_class = delivery.get("status_class")
    if isinstance(status, int) and not isinstance(status, bool):
        status_class = f"{status // 100}xx"
    return {
        "delivered": bool(delivery.get("delivered")),
        "attempts": int(delivery.get("attempts") or 0),
        "status_class": status_class if status_class in _STATUS_CLASSES else None,
    }


_STATUS_CLASSES = frozenset(f"{n}xx" for n in range(1, 6))


class SqlAlertStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- rules ---------------------------------------------------------------------------------
    def create_rule(self, spec: Mapping[str, Any]) -> StoredRule:
        name = str(spec["name"])

        def work(conn: Connection) -> StoredRule:
            refuse_taken_rule_name(conn, name)
            at = q.now()
            conn.execute(
                insert(alert_rules).values(
                    name=name,
                    target=str(spec["target"]),
                    spec=dict(spec),
                    state="ok",
                    last_value=None,
                    evaluated_at=None,
                    state_changed_at=None,
                    revision=1,
                    created_at=at,
                    updated_at=at,
                )
            )
            return self._get(conn, name)

        return run_transaction(self._engine, work, write=True)

    def replace_rule(self, spec: Mapping[str, Any]) -> StoredRule:
        name = str(spec["name"])

        def work(conn: Connection) -> StoredRule:
            self._get(conn, name)
            conn.execute(
                update(alert_rules)
                .where(alert_rules.c.name == name)
                .values(
                    target=str(spec["target"]),
                    spec=dict(spec),
                    updated_at=q.now(),
                    revision=alert_rules.c.revision + 1,
                )
            )
            return self._get(conn, name)

        return run_transaction(self._engine, work, write=True)

    def get_rule(self, name: str) -> StoredRule:
        return run_transaction(self._engine, lambda conn: self._get(conn, name))

    def list_rules(self, target: str | None = None) -> list[StoredRule]:
        stmt = select(alert_rules).order_by(alert_rules.c.name)
        if target is not None:
            stmt = stmt.where(alert_rules.c.target == target)
        return run_transaction(self._engine, lambda conn: [_rule(r) for r in conn.execute(stmt)])

    def delete_rule(self, name: str) -> None:
        def work(conn: Connection) -> None:
            self._get(conn, name)
            conn.execute(delete(alert_rules).where(alert_rules.c.name == name))

        run_transaction(self._engine, work, write=True)

    def transition(
        self, uid: str, expected_revision: int, state: str, value: float | None, at: datetime
    ) -> bool:
        """Save an evaluation of the rule `uid`: the new state and value, if the rule is still at
        `expected_revision` (False when another monitor got there first, or the rule changed or
        was deleted, even if another rule has its name now)."""
        which = alert_rules.c.uid == uid

        def work(conn: Connection) -> bool:
            current = conn.execute(
                select(alert_rules.c.state).where(which, alert_rules.c.revision == expected_revision)
            ).first()
            if current is None:
                return False
            values: dict[str, Any] = {
                "state": state,
                "last_value": value,
                "evaluated_at": at,
                "revision": expected_revision + 1,
            }
            if current.state != state:
                values["state_changed_at"] = at
            result = conn.execute(
                update(alert_rules).where(which, alert_rules.c.revision == expected_revision).values(**values)
            )
            return bool(result.rowcount == 1)

        return run_transaction(self._engine, work, write=True)

    @staticmethod
    def _get(conn: Connection, name: str) -> StoredRule:
        row = conn.execute(select(alert_rules).where(alert_rules.c.name == name)).first()
        if row is None:
            raise BerthError(ErrorCode.ALERT_NOT_FOUND, f"no alert rule {name!r}", rule=name)
        return _rule(row)

    # -- the alert log -------------------------------------------------------------------------
    def append_event(
        self, rule: str, target: str, kind: str, value: float, message: str, at: datetime
    ) -> int:
        def work(conn: Connection) -> int:
            result = conn.execute(
                insert(alert_events).values(
                    rule=rule, target=target, kind=kind, value=value, message=message, at=at, delivery=None
                )
            )
            key = result.inserted_primary_key
            return int(key[0]) if key is not None else 0

        return run_transaction(self._engine, work, write=True)

    def set_delivery(self, event_id: int, delivery: Mapping[str, Any]) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                update(alert_events).where(alert_events.c.id == event_id).values(delivery=dict(delivery))
            )

        run_transaction(self._engine, work, write=True)

    def events(
        self,
        *,
        target: str | None = None,
        rule: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[StoredEvent]:
        stmt = (
            select(alert_events)
            .where(
                of_current_holder(target or alert_events.c.target, alert_events.c.at)
            )  # not earlier holders'
            .order_by(alert_events.c.id.desc())
            .limit(max(1, min(limit, MAX_EVENTS)))
        )
        if target is not None:
            stmt = stmt.where(alert_events.c.target == target)
        if rule is not None:
            stmt = stmt.where(alert_events.c.rule == rule)
        if start is not None:
            stmt = stmt.where(alert_events.c.at >= start)
        if end is not None:
            stmt = stmt.where(alert_events.c.at < end)
        return run_transaction(self._engine, lambda conn: [_event(r) for r in conn.execute(stmt)])


def refuse_taken_rule_name(conn: Connection, name: str) -> None:
    """ALREADY_EXISTS when an alert rule is called `name`. Rule names are one platform-wide
    namespace (a rule is addressed as ``/api/v1/alerts/rules/{name}``); what refers to a rule holds
    its uid, never its name. The one place that decides what taking a used name answers."""
    if conn.execute(select(alert_rules.c.name).where(alert_rules.c.name == name)).first():
        raise BerthError(ErrorCode.ALREADY_EXISTS, f"alert rule {name!r} already exists", rule=name)


def delete_rules_of(conn: Connection, target: str, reason: str) -> None:
    """Delete every alert rule on `target`, each one audited: in the transaction that deletes the
    target, so no rule (nor its webhook) outlives it and watches a later holder of the name. Their
    alert log stays."""
    names = conn.execute(select(alert_rules.c.name).where(alert_rules.c.target == target)).scalars().all()
    if not names:
        return
    conn.execute(delete(alert_rules).where(alert_rules.c.target == target))
    for name in names:
        record_event(
            conn, "alert_rule.delete", "alert_rule", name, after={"target": target, "reason": reason}
        )


def _rule(row: Any) -> StoredRule:
    return StoredRule(
        spec=dict(row.spec),
        uid=row.uid,
        state=row.state,
        last_value=row.last_value,
        evaluated_at=row.evaluated_at,
        state_changed_at=row.state_changed_at,
        revision=row.revision,
    )


def _event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        rule=row.rule,
        target=row.target,
        kind=row.kind,
        value=row.value,
        message=row.message,
        at=row.at,
        delivery=None if row.delivery is None else dict(row.delivery),
    )
