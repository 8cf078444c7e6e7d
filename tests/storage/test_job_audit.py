"""Queuing and cancelling a job are audited, in the transaction of the change (SQLite and PostgreSQL)."""

from __future__ import annotations

from berth.core.audit import AuditQuery, acting_as
from berth.core.jobs import NewJob
from berth.storage.audit_store import SqlAuditStore
from berth.storage.sql_jobs import SqlJobStore


def test_a_queued_and_a_cancelled_job_are_in_the_audit_trail(database_url: str) -> None:
    jobs = SqlJobStore(database_url)
    audit = SqlAuditStore(database_url)
    try:
        with acting_as("ada", "req-1"):  # the principal of the request
            job = jobs.enqueue(NewJob("retrain", {"model": "m"}, created_by="ada", reason="new data"))
            jobs.cancel(job.id)
        events = audit.query(AuditQuery(resource_type="job", resource_name=str(job.id)))
    finally:
        audit.close()
        jobs.close()
    assert [(e.action, e.actor, e.request_id) for e in events] == [
        ("job.enqueue", "ada", "req-1"),
        ("job.cancel", "ada", "req-1"),
    ]
    assert events[0].after == {"kind": "retrain", "params": {"model": "m"}, "reason": "new data"}
    assert events[1].after == {"status": "cancelled"}
