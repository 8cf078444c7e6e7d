"""The worker loop: claim jobs, run each in a thread while keeping its lease alive, record the outcome.

One loop thread polls: it requeues jobs whose worker died (lease expired), fires due triggers,
claims jobs while it has free slots (`concurrency`), and renews the leases of the jobs it runs
(every third of the lease). A job's outcome is recorded by its own thread: succeeded with its
result; failed (retried with back-off while it has attempts; bad parameters are never retried);
nothing when it was cancelled or lost its lease. On `stop`, the worker claims nothing more, waits
up to `grace_s` for its jobs to finish, then interrupts them (their next progress report raises)
and gives them back to the queue, so another worker runs them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.control.jobs.context import JobContext, JobStopped, StopReason
from berth.control.jobs.kinds import JobKinds
from berth.control.jobs.triggers import TriggerEvaluator
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import Job
from berth.core.tracing import OFF, Attributes, Tracing, failed
from berth.storage.job_protocols import JobStore

if TYPE_CHECKING:
    from berth.control.jobs.context import JobWorkspace

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    worker_id: str
    kinds: tuple[str, ...] | None = None
    """The kinds this worker runs (None: every kind it knows)."""
    concurrency: int = 1
    lease_s: float = 30.0
    """How long a claim holds without a heartbeat: a dead worker's job is requeued after this."""
    poll_s: float = 1.0
    grace_s: float = 30.0
    """On stop, how long running jobs may take to finish before they are given back."""


@dataclass(slots=True)
class _Running:
    job: Job
    context: JobContext
    thread: threading.Thread


class Worker:
    def __init__(
        self,
        store: JobStore,
        kinds: JobKinds,
        workspace: JobWorkspace,
        home: Path,
        config: WorkerConfig,
        triggers: TriggerEvaluator | None = None,
        *,
        tracing: Tracing = OFF,
    ) -> None:
        self._tracing = tracing
        self._store = store
        self._kinds = kinds
        self._workspace = workspace
        self._home = home
        self._config = config
        self._triggers = triggers
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._claimable = tuple(config.kinds) if config.kinds is not None else kinds.names()
        self.last_poll_at: float | None = None
        """When (monotonic) the loop last read the queue without an error: its readiness."""
        for name in self._claimable:
            kinds.get(name)  # UNKNOWN_JOB_KIND now rather than jobs nobody can run

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, then stop gracefully (see the module doc)."""
        config = self._config
        log.info(
            "worker %s: kinds %s, concurrency %d",
            config.worker_id,
            ", ".join(self._claimable),
            config.concurrency,
        )
        next_heartbeat = 0.0
        while not stop.is_set():
            self._guarded(self._store.requeue_expired)
            if self._triggers is not None:
                self._guarded(self._triggers.evaluate)
            self._guarded(self._claim_while_free)
            if time.monotonic() >= next_heartbeat:
                self._heartbeat()
                next_heartbeat = time.monotonic() + config.lease_s / 3
            self._wake.wait(min(config.poll_s, config.lease_s / 3))
            self._wake.clear()
        self._stop_gracefully()

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll (e.g. one was just enqueued here)."""
        self._wake.set()

    def running(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    # -- the loop's steps ----------------------------------------------------------------------
    def _claim_while_free(self) -> None:
        while len(self.running()) < self._config.concurrency:
            job = self._store.claim(self._config.worker_id, self._claimable, self._config.lease_s)
            if job is None:
                break
            self._start(job)
        self.last_poll_at = time.monotonic()

    def _start(self, job: Job) -> None:
        context = JobContext(
            job, self._store, self._config.worker_id, self._config.lease_s, self._workspace, self._home
        )
        thread = threading.Thread(target=self._execute, args=(job, context), name=f"berth-job-{job.id}")
        with self._lock:
            self._running[job.id] = _Running(job, context, thread)
        log.info("job %d (%s) started, attempt %d of %d", job.id, job.kind, job.attempts, job.max_attempts)
        thread.start()

    def _heartbeat(self) -> None:
        with self._lock:
            running = list(self._running.values())
        for entry in running:
            try:
                still_ours = self._store.heartbeat(entry.job.id, self._config.worker_id, self._config.lease_s)
            except BerthError as exc:
                log.warning("job %d: heartbeat failed: %s", entry.job.id, exc.message)
                continue
            if not still_ours:
                log.info("job %d was cancelled or taken away: stopping it", entry.job.id)
                entry.context.mark_lost()

    def _stop_gracefully(self) -> None:
        deadline = time.monotonic() + self._config.grace_s
        while self.running() and time.monotonic() < deadline:
            self._heartbeat()
            self._wake.wait(min(0.1, self._config.lease_s / 3))
            self._wake.clear()
        with self._lock:
            left = list(self._running.values())
        for entry in left:
            entry.context.interrupt()
        for entry in left:
            entry.thread.join(timeout=5.0)
            if entry.thread.is_alive():  # it does not report progress: give it back without it
                log.warning("job %d did not stop: released anyway", entry.job.id)
                self._guarded(lambda e=entry: self._store.release(e.job.id, self._config.worker_id))
        log.info("worker %s stopped", self._config.worker_id)

    # -- one job -------------------------------------------------------------------------------
    def _execute(self, job: Job, context: JobContext) -> None:
        """Run `job` in a span of its own (tracing on), linked to the request that enqueued it."""
        attributes: Attributes = {
            "berth.job.id": job.id,
            "berth.job.kind": job.kind,
            "berth.job.attempt": job.attempts,
        }
        with self._tracing.background("berth.job", link=job.traceparent, attributes=attributes) as span:
            error = self._run(job, context)
            if error is not None:
                failed(span, error)

    def _run(self, job: Job, context: JobContext) -> str | None:
        """Run `job` and record how it ended; the error, when it failed."""
        worker = self._config.worker_id
        error: str | None = None
        try:
            kind = self._kinds.get(job.kind)
            result = kind.run(self._kinds.checked_params(job.kind, job.params), context)
            result = _json_result(result)
            if self._store.finish(job.id, worker, result):
                log.info("job %d (%s) succeeded", job.id, job.kind)
            else:
                log.info("job %d (%s) ended, but it was cancelled meanwhile", job.id, job.kind)
        except JobStopped as stopped:
            if stopped.reason is StopReason.INTERRUPTED:
                self._guarded(lambda: self._store.release(job.id, worker))
                log.info("job %d given back to the queue (worker stopping)", job.id)
            else:
                log.info("job %d stopped: cancelled or taken away", job.id)
        except BerthError as exc:
            retry = exc.code not in (
                ErrorCode.INVALID_JOB_PARAMS,
                ErrorCode.UNKNOWN_JOB_KIND,
                ErrorCode.FORBIDDEN,
                ErrorCode.JOB_INPUT_NOT_FOUND,
            )
            error = f"[{exc.code.value}] {exc.message}"
            self._record_failure(job, error, retry=retry)
        except Exception as exc:
            log.exception("job %d (%s) failed", job.id, job.kind)
            error = f"{type(exc).__name__}: {exc}"
            self._record_failure(job, error, retry=True)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()
        return error

    def _record_failure(self, job: Job, error: str, *, retry: bool) -> None:
        outcome = self._guarded(lambda: self._store.fail(job.id, self._config.worker_id, error, retry=retry))
        state = "no longer ours" if outcome is None else outcome.status.value
        log.warning("job %d (%s) failed (%s): %s", job.id, job.kind, state, error)

    @staticmethod
    def _guarded(step: Any) -> Any:
        """Run a step of the loop; a database outage is logged and retried on the next poll."""
        try:
            return step()
        except BerthError as exc:
            log.warning("worker: %s", exc.message)
            return None


def _json_result(result: Any) -> Any:
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BerthError(ErrorCode.INTERNAL, f"the job's result is not plain JSON: {exc}") from None
    return result
