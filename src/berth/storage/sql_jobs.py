"""The job queue in the registry database (see `berth.storage.job_protocols.JobStore`).

Claiming is one write transaction: select the next due job and mark it running. On PostgreSQL the
select is ``FOR UPDATE SKIP LOCKED``, so workers claiming at once each lock a different row and
none waits for another; on SQLite the transaction begins ``IMMEDIATE`` (the database's one write
lock), so claims follow one another. Every later change a worker makes is conditional on the job
still running under its name: a cancelled or requeued job is never overwritten by a late worker.
Times are the workers' clocks (UTC): keep the hosts' clocks in sync (NTP), leases are seconds long.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import URL, Connection, Engine, Row, String, case, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError

from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import (
    MAX_COUNT,
    Job,
    JobQuery,
    JobStatus,
    NewJob,
    Trigger,
    TriggerSpec,
    check_fraction,
    check_trigger_name,
    cut,
    retry_delay_s,
)
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.db import create_database_engine
from berth.storage.job_rows import insert_job, job_from_row, trigger_from_row
from berth.storage.migrate import upgrade_database
from berth.storage.schema import UtcDateTime, alert_rules, job_triggers, jobs
from berth.storage.transactions import database_errors, run_transaction

_RUNNING: Final = JobStatus.RUNNING.value
_QUEUED: Final = JobStatus.QUEUED.value
MAX_LIST: Final = 500
T = TypeVar("T")


class SqlJobStore:
    """Jobs and triggers, on an engine shared with the registry store or one of its own (by URL)."""

    def __init__(self, url_or_engine: str | URL | Engine, *, retry_base_s: float = 5.0) -> None:
        """`retry_base_s`: the back-off before a failed job's second attempt (doubled after each)."""
        self._owns_engine = not isinstance(url_or_engine, Engine)
        if isinstance(url_or_engine, Engine):
            self._engine = url_or_engine
        else:
            self._engine = create_database_engine(url_or_engine)
            try:
                with database_errors():
                    upgrade_database(self._engine)
            except BaseException:
                self._engine.dispose()
                raise
        self._retry_base_s = retry_base_s

    # -- the queue -----------------------------------------------------------------------------
    def enqueue(self, job: NewJob) -> Job:
        job = job.checked()

        def work(conn: Connection) -> Job:
            made = _job(conn, insert_job(conn, job))
            after = {"kind": made.kind, "params": made.params, "reason": made.reason}
            record_event(conn, "job.enqueue", "job", str(made.id), after=after, actor=made.created_by)
            return made

        return self._write(work)

    def claim(self, worker_id: str, kinds: Collection[str] | None, lease_s: float) -> Job | None:
        def work(conn: Connection) -> Job | None:
            at = q.now()
            stmt = select(jobs.c.id).where(jobs.c.status == _QUEUED, jobs.c.run_after <= at)
            if kinds is not None:
                stmt = stmt.where(jobs.c.kind.in_(list(kinds)))
            stmt = stmt.order_by(jobs.c.priority.desc(), jobs.c.id).limit(1)
            job_id = conn.execute(stmt.with_for_update(skip_locked=True)).scalar_one_or_none()
            if job_id is None:
                return None
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    status=_RUNNING,
                    claimed_by=worker_id,
                    lease_until=at + timedelta(seconds=lease_s),
                    heartbeat_at=at,
                    attempts=jobs.c.attempts + 1,
                    started_at=func.coalesce(jobs.c.started_at, at),
                )
            )
            return _job(conn, int(job_id))

        return self._write(work)

    def heartbeat(self, job_id: int, worker_id: str, lease_s: float) -> bool:
        at = q.now()
        return self._update_held(
            job_id, worker_id, lease_until=at + timedelta(seconds=lease_s), heartbeat_at=at
        )

    def progress(self, job_id: int, worker_id: str, fraction: float, message: str, lease_s: float) -> bool:
        at = q.now()
        return self._update_held(
            job_id,
            worker_id,
            progress=check_fraction(fraction),
            progress_message=cut(str(message)),
            lease_until=at + timedelta(seconds=lease_s),
            heartbeat_at=at,
        )

    def finish(self, job_id: int, worker_id: str, result: Any) -> bool:
        return self._update_held(
            job_id,
            worker_id,
            status=JobStatus.SUCCEEDED.value,
            result=result,
            progress=1.0,
            finished_at=q.now(),
            lease_until=None,
        )

    def fail(self, job_id: int, worker_id: str, error: str, *, retry: bool = True) -> Job | None:
        def work(conn: Connection) -> Job | None:
            row = _held_row(conn, job_id, worker_id)
            if row is None:
                return None
            at = q.now()
            if retry and row.attempts < row.max_attempts:
                delay = timedelta(seconds=retry_delay_s(int(row.attempts), self._retry_base_s))
                values: dict[str, Any] = {"status": _QUEUED, "run_after": at + delay}
            else:
                values = {"status": JobStatus.FAILED.value, "finished_at": at}
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(error=cut(error), claimed_by=None, lease_until=None, **values)
            )
            return _job(conn, job_id)

        return self._write(work)

    def release(self, job_id: int, worker_id: str) -> bool:
        return self._update_held(
            job_id,
            worker_id,
            status=_QUEUED,
            claimed_by=None,
            lease_until=None,
            run_after=q.now(),
            attempts=jobs.c.attempts - 1,
        )

    def requeue_expired(self) -> int:
        def work(conn: Connection) -> int:
            at = q.now()
            expired = (jobs.c.status == _RUNNING) & (jobs.c.lease_until < at)
            exhausted = jobs.c.attempts >= jobs.c.max_attempts
            stmt = (
                update(jobs)
                .where(expired)
                .values(
                    status=case((exhausted, JobStatus.FAILED.value), else_=_QUEUED),
                    finished_at=case((exhausted, literal(at, UtcDateTime())), else_=None),
                    run_after=at,
                    error=literal("lease expired: worker ", String())
                    + func.coalesce(jobs.c.claimed_by, "?")
                    + literal(" stopped reporting", String()),
                    claimed_by=None,
                    lease_until=None,
                )
            )
            return int(conn.execute(stmt).rowcount)

        return self._write(work)

    def cancel(self, job_id: int) -> Job:
        def work(conn: Connection) -> Job:
            _job(conn, job_id)  # JOB_NOT_FOUND
            stmt = (
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status.in_([_QUEUED, _RUNNING]))
                .values(status=JobStatus.CANCELLED.value, finished_at=q.now(), lease_until=None)
            )
            if conn.execute(stmt).rowcount != 1:  # it finished first (checked in the update: no race)
                job = _job(conn, job_id)
                raise BerthError(
                    ErrorCode.CONFLICT, f"job {job_id} has {job.status.value} already", job=job_id
                )
            cancelled = _job(conn, job_id)
            record_event(conn, "job.cancel", "job", str(job_id), after={"status": cancelled.status.value})
            return cancelled

        return self._write(work)

    # -- reading -------------------------------------------------------------------------------
    def get_job(self, job_id: int) -> Job:
        return run_transaction(self._engine, lambda conn: _job(conn, job_id))

    def list_jobs(self, query: JobQuery) -> list[Job]:
        stmt = select(jobs).order_by(jobs.c.id.desc()).limit(max(1, min(query.limit, MAX_LIST)))
        if query.status is not None:
            stmt = stmt.where(jobs.c.status == query.status.value)
        if query.kind is not None:
            stmt = stmt.where(jobs.c.kind == query.kind)
        if query.trigger is not None:
            stmt = stmt.where(jobs.c.trigger == query.trigger)
        if query.created_by is not None:
            stmt = stmt.where(jobs.c.created_by == query.created_by)
        if query.before is not None:
            stmt = stmt.where(jobs.c.id < min(query.before, MAX_COUNT))
        return run_transaction(self._engine, lambda conn: [job_from_row(r) for r in conn.execute(stmt)])

    # -- triggers ------------------------------------------------------------------------------
    def add_trigger(self, spec: TriggerSpec) -> Trigger:
        spec = spec.checked()

        def work(conn: Connection) -> Trigger:
            if conn.execute(select(job_triggers.c.id).where(job_triggers.c.name == spec.name)).first():
                raise BerthError(
                    ErrorCode.ALREADY_EXISTS, f"trigger {spec.name!r} already exists", trigger=spec.name
                )
            rule_uid = (
                None
                if spec.alert_rule is None
                else _rule_identity(conn, spec.alert_rule, spec.alert_rule_uid)
            )
            try:
                conn.execute(
                    job_triggers.insert().values(
                        name=spec.name,
                        kind=spec.kind,
                        params=spec.params,
                        every_s=spec.every_s,
                        corrections_endpoint=spec.corrections_endpoint,
                        corrections_count=spec.corrections_count,
                        alert_rule=spec.alert_rule,
                        alert_rule_uid=rule_uid,
                        enabled=spec.enabled,
                        created_at=q.now(),
                        created_by=spec.created_by[:255],
                        state={},
                    )
                )
            except IntegrityError:
                raise BerthError(
                    ErrorCode.ALREADY_EXISTS, f"trigger {spec.name!r} already exists", trigger=spec.name
                ) from None
            return trigger_from_row(_trigger_row(conn, spec.name))

        return self._write(work)

    def get_trigger(self, name: str) -> Trigger:
        check_trigger_name(name)
        return run_transaction(self._engine, lambda conn: trigger_from_row(_trigger_row(conn, name)))

    def list_triggers(self) -> list[Trigger]:
        stmt = select(job_triggers).order_by(job_triggers.c.name)
        return run_transaction(self._engine, lambda conn: [trigger_from_row(r) for r in conn.execute(stmt)])

    def set_trigger_enabled(self, name: str, enabled: bool) -> Trigger:
        check_trigger_name(name)

        def work(conn: Connection) -> Trigger:
            _trigger_row(conn, name)
            conn.execute(update(job_triggers).where(job_triggers.c.name == name).values(enabled=enabled))
            return trigger_from_row(_trigger_row(conn, name))

        return self._write(work)

    def delete_trigger(self, name: str) -> None:
        check_trigger_name(name)

        def work(conn: Connection) -> None:
            _trigger_row(conn, name)
            conn.execute(delete(job_triggers).where(job_triggers.c.name == name))

        self._write(work)

    def fire(self, name: str, *, reason: str, actor: str = "") -> Job:
        check_trigger_name(name)

        def work(conn: Connection) -> Job:
            row = _trigger_row(conn, name, lock=True)
            if not row.enabled:
                raise BerthError(ErrorCode.CONFLICT, f"trigger {name!r} is disabled", trigger=name)
            return _fire(conn, row, reason=reason, actor=actor, state=None)

        return self._write(work)

    def fire_if_unchanged(
        self, name: str, last_fired_at: datetime | None, *, reason: str, state: dict[str, Any]
    ) -> Job | None:
        check_trigger_name(name)

        def work(conn: Connection) -> Job | None:
            unchanged = (
                job_triggers.c.last_fired_at.is_(None)
                if last_fired_at is None
                else job_triggers.c.last_fired_at == last_fired_at
            )
            pending = (
                select(jobs.c.id)
                .where(jobs.c.trigger == name, jobs.c.status.in_((_QUEUED, _RUNNING)))
                .exists()
            )
            stmt = (
                update(job_triggers)
                .where(job_triggers.c.name == name, job_triggers.c.enabled.is_(True), unchanged, ~pending)
                .values(last_fired_at=q.now())
            )
            if conn.execute(stmt).rowcount != 1:
                return None  # disabled, deleted, its last job still pending, or another worker fired it
            return _fire(conn, _trigger_row(conn, name), reason=reason, actor="", state=state)

        return self._write(work)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    # -- helpers -------------------------------------------------------------------------------
    def _write(self, work: Callable[[Connection], T]) -> T:
        return run_transaction(self._engine, work, write=True)

    def _update_held(self, job_id: int, worker_id: str, **values: Any) -> bool:
        def work(conn: Connection) -> bool:
            stmt = update(jobs).where(
                jobs.c.id == job_id, jobs.c.status == _RUNNING, jobs.c.claimed_by == worker_id
            )
            return bool(conn.execute(stmt.values(**values)).rowcount == 1)

        return self._write(work)


def _fire(conn: Connection, row: Row[Any], *, reason: str, actor: str, state: dict[str, Any] | None) -> Job:
    trigger = trigger_from_row(row)
    values: dict[str, Any] = {"last_fired_at": q.now()}
    if state is not None:
        values["state"] = state
    conn.execute(update(job_triggers).where(job_triggers.c.id == row.id).values(**values))
    new = NewJob(
        trigger.spec.kind,
        trigger.spec.params,
        created_by=actor or f"trigger:{trigger.name}",
        trigger=trigger.name,
        reason=reason,
    )
    return _job(conn, insert_job(conn, new.checked()))


def _job(conn: Connection, job_id: int) -> Job:
    row = None
    if 0 < job_id <= MAX_COUNT:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one_or_none()
    if row is None:
        raise BerthError(ErrorCode.JOB_NOT_FOUND, f"job {job_id} not found", job=job_id)
    return job_from_row(row)


def _held_row(conn: Connection, job_id: int, worker_id: str) -> Row[Any] | None:
    stmt = select(jobs).where(jobs.c.id == job_id, jobs.c.status == _RUNNING, jobs.c.claimed_by == worker_id)
    return conn.execute(stmt.with_for_update()).one_or_none()


def _trigger_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    stmt = select(job_triggers).where(job_triggers.c.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one_or_none()
    if row is None:
        raise BerthError(ErrorCode.TRIGGER_NOT_FOUND, f"trigger {name!r} not found", trigger=name)
    return row


def _rule_identity(conn: Connection, name: str, uid: str | None) -> str:
    """The identity of the alert rule `name` a trigger listens to: the rule `uid` (the one its
    creator was authorized to read), which must still have that name; ALERT_NOT_FOUND otherwise."""
    stmt = select(alert_rules.c.uid).where(alert_rules.c.name == name)
    if uid is not None:
        stmt = stmt.where(alert_rules.c.uid == uid)
    found = conn.execute(stmt).scalar_one_or_none()
    if found is None:
        raise BerthError(ErrorCode.ALERT_NOT_FOUND, f"no alert rule {name!r}", rule=name)
    return str(found)
