"""The contract of the job store: the queue workers claim from, and the triggers that fill it.

One implementation (`berth.storage.sql_jobs.SqlJobStore`, SQLite or PostgreSQL by URL) and one
contract test suite (``tests/storage/test_job_store.py``) that runs it on both.

A worker holds a job by its *lease*: `claim` sets it, `heartbeat` and `progress` extend it. Every
call a worker makes about a job it holds says whether the job is still its own: False when the job
was cancelled, or its lease ran out and it was requeued (the worker must stop working on it).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from berth.core.jobs import Job, JobQuery, NewJob, Trigger, TriggerSpec


class JobStore(Protocol):
    # -- the queue -----------------------------------------------------------------------------
    def enqueue(self, job: NewJob) -> Job: ...

    def claim(self, worker_id: str, kinds: Collection[str] | None, lease_s: float) -> Job | None:
        """The queued job due now with the highest priority (oldest first among equals) of one of
        `kinds` (None: any), now running under `worker_id` until the lease ends; None when there is
        none. Several workers claiming at once never get the same job."""
        ...

    def heartbeat(self, job_id: int, worker_id: str, lease_s: float) -> bool:
        """Extend the lease; False when the job is no longer this worker's to run."""
        ...

    def progress(self, job_id: int, worker_id: str, fraction: float, message: str, lease_s: float) -> bool:
        """Record progress (a fraction in [0, 1]) and extend the lease; False as for `heartbeat`."""
        ...

    def finish(self, job_id: int, worker_id: str, result: Any) -> bool:
        """Mark the job succeeded with its JSON `result`; False (and nothing changes) when it is no
        longer this worker's."""
        ...

    def fail(self, job_id: int, worker_id: str, error: str, *, retry: bool = True) -> Job | None:
        """Queue the job again after a back-off when it has attempts left (and `retry`), else mark it
        failed; None when it is no longer this worker's."""
        ...

    def release(self, job_id: int, worker_id: str) -> bool:
        """Give the job back to the queue at once, this attempt not counted (a worker stopping)."""
        ...

    def requeue_expired(self) -> int:
        """Jobs whose lease ran out (their worker died) go back to the queue, or fail when they have
        used all their attempts. Returns how many were requeued or failed."""
        ...

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or running job (a running one stops at its next progress report);
        CONFLICT when it has finished already."""
        ...

    # -- reading -------------------------------------------------------------------------------
    def get_job(self, job_id: int) -> Job: ...

    def list_jobs(self, query: JobQuery) -> list[Job]: ...

    # -- triggers ------------------------------------------------------------------------------
    def add_trigger(self, spec: TriggerSpec) -> Trigger: ...

    def get_trigger(self, name: str) -> Trigger: ...

    def list_triggers(self) -> list[Trigger]: ...

    def set_trigger_enabled(self, name: str, enabled: bool) -> Trigger: ...

    def delete_trigger(self, name: str) -> None: ...

    def fire(self, name: str, *, reason: str, actor: str = "") -> Job:
        """Enqueue the trigger's job now and note that it fired, in one transaction (CONFLICT when
        the trigger is disabled)."""
        ...

    def fire_if_unchanged(
        self, name: str, last_fired_at: datetime | None, *, reason: str, state: dict[str, Any]
    ) -> Job | None:
        """`fire` (saving the trigger's new `state`) only when the trigger is enabled, last fired
        at `last_fired_at` and no job it enqueued is still queued or running: of several workers
        deciding at once that a trigger is due, exactly one fires it; the others get None, and a
        trigger whose last job is pending does not pile up another one."""
        ...

    def close(self) -> None: ...
