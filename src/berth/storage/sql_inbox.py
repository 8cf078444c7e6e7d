"""Team inboxes in the registry database: the routed messages (the outbox) and each team's settings.

Messages are written by `enqueue_messages`, inside the transaction that ingests their records
(`berth.storage.sql_records.SqlRecordStore.ingest`), keyed by ``<endpoint>/<prediction id>#<row>``
(ON CONFLICT DO NOTHING: a record ingested twice gives its messages once). Deliverers take due
messages by compare-and-set on ``next_attempt_at`` (`claim_due`), which is also their lease: any
number of deliverers share the table, and one that dies holding a message gives it back when its
lease runs out (the message is then sent again: at least once, under the same key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from berth.core.delivery import (
    CORRECTION,
    DEAD,
    DELIVERED,
    PENDING,
    STATUSES,
    DeliverySpec,
    InboxMessage,
    InboxSettings,
    routed_rows,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import PredictionRecord
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.schema import endpoints, inbox_messages, team_inboxes, teams
from berth.storage.transactions import run_transaction

_m = inbox_messages.c
MAX_KEY_LENGTH: Final = 512
MAX_PAGE: Final = 500
MAX_ERROR_LENGTH: Final = 500


def enqueue_messages(conn: Connection, records: Sequence[PredictionRecord]) -> int:
    """The messages of `records` whose endpoint declares ``deliver``, into the inbox table in the
    caller's transaction (one query for the endpoints' specs, one insert); returns how many rows
    were routed. Shadow answers are never delivered."""
    names = sorted({r.endpoint for r in records if r.shadow_of is None})
    if not names:
        return 0
    deliveries: dict[str, DeliverySpec] = {}
    for name, spec in conn.execute(
        select(endpoints.c.name, endpoints.c.spec).where(endpoints.c.name.in_(names))
    ):
        deliver = spec.get("deliver") if isinstance(spec, dict) else None
        if deliver is not None:
            try:
                deliveries[name] = DeliverySpec.from_json(deliver)
            except BerthError:  # a spec stored before a rule tightened: nothing to deliver by
                continue
    if not deliveries:
        return 0
    values: list[dict[str, Any]] = []
    for record in records:
        delivery = deliveries.get(record.endpoint)
        if delivery is None or record.shadow_of is not None:
            continue
        key_prefix = f"{record.endpoint}/{record.prediction_id}#"
        for routed in routed_rows(delivery, record.inputs, record.outputs):
            values.append(
                {
                    "key": f"{key_prefix}{routed.row}",
                    "team": routed.team,
                    "endpoint": record.endpoint,
                    "prediction_id": record.prediction_id,
                    "row": routed.row,
                    "rows": routed.rows,
                    "learns": delivery.learns,
                    "body": routed.body,
                    "created_at": record.recorded_at,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": record.recorded_at,
                }
            )
    if values:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(inbox_messages).on_conflict_do_nothing(index_elements=["key"]), values)
    return len(values)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a deliverer holds until `lease_until` (its attempt number is `message.attempts`)."""

    message: InboxMessage
    lease_until: datetime


class SqlInbox:
    """The inbox table and the team settings, over an engine the caller owns."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- reading ---------------------------------------------------------------------------------

    def messages(
        self,
        team: str,
        *,
        status: str | None = None,
        acknowledged: bool | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[InboxMessage]:
        """`team`'s messages, newest first (ids below `before`)."""
        if status is not None and status not in STATUSES:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"status is one of {list(STATUSES)}, got {status!r}")
        if not 1 <= limit <= MAX_PAGE:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"limit is between 1 and {MAX_PAGE}")
        stmt = select(inbox_messages).where(_m.team == team)
        if status is not None:
            stmt = stmt.where(_m.status == status)
        if acknowledged is not None:
            stmt = stmt.where(
                _m.acknowledged_at.is_not(None) if acknowledged else _m.acknowledged_at.is_(None)
            )
        if before is not None:
            stmt = stmt.where(_m.id < before)
        stmt = stmt.order_by(_m.id.desc()).limit(limit)
        return run_transaction(self._engine, lambda conn: [_message(r) for r in conn.execute(stmt)])

    def get(self, team: str, message_id: int) -> InboxMessage:
        """Message `message_id` of `team`; MESSAGE_NOT_FOUND when it is another team's or missing."""
        return run_transaction(self._engine, lambda conn: _get(conn, team, message_id))

    def counts(self, team: str) -> dict[str, int]:
        from sqlalchemy import func

        def work(conn: Connection) -> dict[str, int]:
            rows = conn.execute(
                select(_m.status, func.count()).where(_m.team == team).group_by(_m.status)
            ).all()
            unacknowledged = conn.execute(
                select(func.count()).where(
                    _m.team == team, _m.acknowledged_at.is_(None), _m.rerouted_to.is_(None)
                )
            ).scalar_one()
            return (
                {s: 0 for s in STATUSES} | {str(s): int(n) for s, n in rows} | {"open": int(unacknowledged)}
            )

        return run_transaction(self._engine, work)

    def team_exists(self, team: str) -> bool:
        stmt = select(teams.c.id).where(teams.c.name == team)
        return run_transaction(self._engine, lambda conn: conn.execute(stmt).first() is not None)

    # -- a team's actions --------------------------------------------------------------------------

    def acknowledge(self, team: str, message_id: int, by: str) -> InboxMessage:
        """Mark the message read and handled (idempotent: the first acknowledgement is kept)."""

        def work(conn: Connection) -> InboxMessage:
            message = _get(conn, team, message_id)
            if message.acknowledged_at is None:
                conn.execute(
                    update(inbox_messages)
                    .where(_m.id == message_id, _m.acknowledged_at.is_(None))
                    .values(acknowledged_at=q.now(), acknowledged_by=by)
                )
                record_event(conn, "inbox.acknowledge", "team", team, after={"message": message_id})
            return _get(conn, team, message_id)

        return run_transaction(self._engine, work, write=True)

    def reroute(
        self, team: str, message_id: int, to: str, by: str, label: str
    ) -> tuple[InboxMessage, InboxMessage]:
        """Move the message to team `to`: it stays in `team`'s inbox marked rerouted, and a copy,
        keyed ``<key>>to``, is queued for `to`'s inbox with the correction (`label`, `to`) beside the
        model's answer. CONFLICT when it was rerouted already."""

        def work(conn: Connection) -> tuple[InboxMessage, InboxMessage]:
            message = _get(conn, team, message_id)
            if to == team:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST, f"the message is already in team {team!r}'s inbox"
                )
            key = f"{message.key}>{to}"
            if len(key) > MAX_KEY_LENGTH:
                raise BerthError(ErrorCode.CONFLICT, "the message was rerouted too many times")
            at = q.now()
            moved = conn.execute(
                update(inbox_messages)
                .where(_m.id == message_id, _m.rerouted_to.is_(None))
                .values(
                    rerouted_to=to,
                    rerouted_by=by,
                    acknowledged_at=message.acknowledged_at or at,
                    acknowledged_by=message.acknowledged_by or by,
                )
            ).rowcount
            if moved != 1:
                raise BerthError(
                    ErrorCode.CONFLICT,
                    f"message {message_id} was already rerouted to {message.rerouted_to!r}",
                    message_id=message_id,
                )
            conn.execute(
                inbox_messages.insert().values(
                    key=key,
                    team=to,
                    endpoint=message.endpoint,
                    prediction_id=message.prediction_id,
                    row=message.row,
                    rows=message.rows,
                    learns=message.learns,
                    body={**message.body, CORRECTION: {"label": label, "team": to}},
                    created_at=message.created_at,
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=at,
                    rerouted_from=team,
                    rerouted_by=by,
                )
            )
            record_event(conn, "inbox.reroute", "team", team, after={"message": message_id, "to": to})
            new = conn.execute(select(inbox_messages).where(_m.key == key)).one()
            return _get(conn, team, message_id), _message(new)

        return run_transaction(self._engine, work, write=True)

    # -- settings ---------------------------------------------------------------------------------

    def settings(self, team: str) -> InboxSettings:
        """`team`'s settings (none stored: inbox only)."""

        def work(conn: Connection) -> InboxSettings:
            row = conn.execute(select(team_inboxes).where(team_inboxes.c.team == team)).first()
            if row is None:
                return InboxSettings(team, None, None, None)
            return InboxSettings(
                row.team,
                row.webhook_url,
                row.webhook_secret,
                row.nats_subject,
                row.updated_at,
                row.updated_by,
            )

        return run_transaction(self._engine, work)

    def put_settings(self, settings: InboxSettings, by: str) -> InboxSettings:
        def work(conn: Connection) -> None:
            conn.execute(delete(team_inboxes).where(team_inboxes.c.team == settings.team))
            if settings.webhook_url is not None or settings.nats_subject is not None:
                conn.execute(
                    team_inboxes.insert().values(
                        team=settings.team,
                        webhook_url=settings.webhook_url,
                        webhook_secret=settings.webhook_secret,
                        nats_subject=settings.nats_subject,
                        updated_at=q.now(),
                        updated_by=by,
                    )
                )
            after = {"webhook": settings.webhook_url is not None, "nats_subject": settings.nats_subject}
            record_event(conn, "inbox.settings", "team", settings.team, after=after)

        run_transaction(self._engine, work, write=True)
        return self.settings(settings.team)

    # -- the deliverer ----------------------------------------------------------------------------

    def claim_due(self, now: datetime, *, limit: int, lease_s: float) -> list[Claimed]:
        """Take up to `limit` pending messages due by `now`: each one's next attempt moves to the end
        of the lease and its attempt count goes up, by compare-and-set (another deliverer that read
        the same row takes nothing)."""
        lease_until = now + timedelta(seconds=lease_s)

        def work(conn: Connection) -> list[Claimed]:
            due = conn.execute(
                select(_m.id, _m.next_attempt_at)
                .where(_m.status == PENDING, _m.next_attempt_at <= now)
                .order_by(_m.next_attempt_at)
                .limit(limit)
            ).all()
            claimed: list[int] = []
            for message_id, due_at in due:
                taken = conn.execute(
                    update(inbox_messages)
                    .where(and_(_m.id == message_id, _m.status == PENDING, _m.next_attempt_at == due_at))
                    .values(next_attempt_at=lease_until, attempts=_m.attempts + 1)
                ).rowcount
                if taken == 1:
                    claimed.append(int(message_id))
            if not claimed:
                return []
            rows = conn.execute(select(inbox_messages).where(_m.id.in_(claimed)).order_by(_m.id))
            return [Claimed(_message(r), lease_until) for r in rows]

        return run_transaction(self._engine, work, write=True)

    def delivered(self, claimed: Claimed, to: str) -> None:
        self._finish(claimed, status=DELIVERED, delivered_at=q.now(), delivered_to=to, last_error=None)

    def failed(self, claimed: Claimed, error: str, retry_at: datetime | None) -> None:
        """A failed attempt: retried at `retry_at`, or dead-lettered (None)."""
        values: dict[str, Any] = {"last_error": error[:MAX_ERROR_LENGTH]}
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = retry_at
        self._finish(claimed, **values)

    def _finish(self, claimed: Claimed, **values: Any) -> None:
        message = claimed.message

        def work(conn: Connection) -> None:  # only while the lease holds: a later holder's outcome wins
            conn.execute(
                update(inbox_messages)
                .where(
                    _m.id == message.id,
                    _m.status == PENDING,
                    _m.next_attempt_at == claimed.lease_until,
                    _m.attempts == message.attempts,
                )
                .values(**values)
            )

        run_transaction(self._engine, work, write=True)


def _get(conn: Connection, team: str, message_id: int) -> InboxMessage:
    row = conn.execute(select(inbox_messages).where(_m.id == message_id, _m.team == team)).first()
    if row is None:
        raise BerthError(
            ErrorCode.MESSAGE_NOT_FOUND,
            f"no message {message_id} in team {team!r}'s inbox",
            message_id=message_id,
        )
    return _message(row)


def _message(row: Row[Any]) -> InboxMessage:
    return InboxMessage(
        id=int(row.id),
        key=row.key,
        team=row.team,
        endpoint=row.endpoint,
        prediction_id=row.prediction_id,
        row=int(row.row),
        rows=int(row.rows),
        learns=row.learns,
        body=row.body,
        created_at=row.created_at,
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        delivered_to=row.delivered_to,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        rerouted_to=row.rerouted_to,
        rerouted_from=row.rerouted_from,
        rerouted_by=row.rerouted_by,
    )
