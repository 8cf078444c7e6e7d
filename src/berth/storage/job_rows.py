"""Mapping between the ``jobs`` / ``job_triggers`` rows and the core job types."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert

from berth.core.jobs import Job, JobStatus, NewJob, Trigger, TriggerSpec, cut
from berth.storage import queries as q
from berth.storage.schema import jobs


def insert_job(conn: Connection, job: NewJob) -> int:
    """Insert a queued job (in the caller's transaction); its id."""
    at = q.now()
    stmt = insert(jobs).values(
        kind=job.kind,
        params=job.params,
        status=JobStatus.QUEUED.value,
        priority=job.priority,
        created_at=at,
        created_by=job.created_by[:255],
        trigger=job.trigger,
        reason=cut(job.reason),
        run_after=job.run_after or at,
        attempts=0,
        max_attempts=job.max_attempts,
        progress=0.0,
        progress_message="",
        traceparent=job.traceparent,
    )
    return int(conn.execute(stmt.returning(jobs.c.id)).scalar_one())


def job_from_row(row: Row[Any]) -> Job:
    return Job(
        id=int(row.id),
        kind=row.kind,
        params=dict(row.params),
        status=JobStatus(row.status),
        priority=int(row.priority),
        created_at=row.created_at,
        created_by=row.created_by,
        trigger=row.trigger,
        reason=row.reason,
        run_after=row.run_after,
        attempts=int(row.attempts),
        max_attempts=int(row.max_attempts),
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        heartbeat_at=row.heartbeat_at,
        progress=float(row.progress),
        progress_message=row.progress_message,
        result=row.result,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        traceparent=row.traceparent,
    )


def trigger_from_row(row: Row[Any]) -> Trigger:
    spec = TriggerSpec(
        name=row.name,
        kind=row.kind,
        params=dict(row.params),
        every_s=row.every_s,
        corrections_endpoint=row.corrections_endpoint,
        corrections_count=row.corrections_count,
        alert_rule=row.alert_rule,
        enabled=bool(row.enabled),
        created_by=row.created_by,
        alert_rule_uid=row.alert_rule_uid,
    )
    return Trigger(spec, row.created_at, row.last_fired_at, dict(row.state))
