"""The job store's contract, on SQLite and PostgreSQL: the queue, leases, retries, cancellation,
triggers, and claims from several threads and processes at once (each job claimed exactly once)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JobQuery, JobStatus, NewJob, TriggerSpec
from berth.storage.sql_jobs import SqlJobStore
from tests.storage.workers import claim_all

LEASE = 30.0


@pytest.fixture
def jobs(database_url: str) -> Iterator[SqlJobStore]:
    opened = SqlJobStore(database_url, retry_base_s=0.0)
    yield opened
    opened.close()


def test_a_job_goes_from_queued_to_succeeded(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("batch-score", {"model": "churn"}, created_by="alice"))
    assert job.status is JobStatus.QUEUED
    assert (job.attempts, job.progress, job.claimed_by) == (0, 0.0, None)

    claimed = jobs.claim("w1", None, LEASE)
    assert claimed is not None
    assert claimed.id == job.id
    assert (claimed.status, claimed.claimed_by, claimed.attempts) == (JobStatus.RUNNING, "w1", 1)
    assert claimed.lease_until is not None
    assert claimed.started_at is not None
    assert jobs.claim("w2", None, LEASE) is None  # nothing else queued

    assert jobs.progress(job.id, "w1", 0.5, "half way", LEASE)
    assert (jobs.get_job(job.id).progress, jobs.get_job(job.id).progress_message) == (0.5, "half way")
    assert jobs.finish(job.id, "w1", {"rows": 10})
    done = jobs.get_job(job.id)
    assert (done.status, done.result, done.progress) == (JobStatus.SUCCEEDED, {"rows": 10}, 1.0)
    assert done.finished_at is not None
    assert done.params == {"model": "churn"}
    assert done.created_by == "alice"


def test_claims_follow_priority_then_age_and_kinds(jobs: SqlJobStore) -> None:
    low = jobs.enqueue(NewJob("a"))
    high = jobs.enqueue(NewJob("a", priority=5))
    other = jobs.enqueue(NewJob("b", priority=9))
    later = jobs.enqueue(NewJob("a", priority=5, run_after=datetime.now(UTC) + timedelta(hours=1)))

    first = jobs.claim("w", ["a"], LEASE)
    second = jobs.claim("w", ["a"], LEASE)
    assert first is not None
    assert second is not None
    assert [first.id, second.id] == [high.id, low.id]
    assert jobs.claim("w", ["a"], LEASE) is None  # `later` is not due yet
    third = jobs.claim("w", None, LEASE)
    assert third is not None
    assert third.id == other.id
    assert jobs.get_job(later.id).status is JobStatus.QUEUED


def test_only_the_holder_may_report_on_a_job(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("a"))
    jobs.claim("w1", None, LEASE)
    assert not jobs.heartbeat(job.id, "w2", LEASE)
    assert not jobs.progress(job.id, "w2", 0.3, "", LEASE)
    assert not jobs.finish(job.id, "w2", None)
    assert jobs.fail(job.id, "w2", "boom") is None
    assert not jobs.release(job.id, "w2")
    assert jobs.get_job(job.id).status is JobStatus.RUNNING
    assert jobs.heartbeat(job.id, "w1", LEASE)


def test_a_failed_job_is_retried_until_its_attempts_are_used(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("a", max_attempts=2))
    jobs.claim("w", None, LEASE)
    retried = jobs.fail(job.id, "w", "first failure")
    assert retried is not None
    assert (retried.status, retried.error, retried.claimed_by) == (JobStatus.QUEUED, "first failure", None)

    again = jobs.claim("w", None, LEASE)
    assert again is not None
    assert again.attempts == 2
    failed = jobs.fail(job.id, "w", "second failure")
    assert failed is not None
    assert (failed.status, failed.error) == (JobStatus.FAILED, "second failure")
    assert failed.finished_at is not None
    assert jobs.claim("w", None, LEASE) is None


def test_retries_back_off(database_url: str) -> None:
    store = SqlJobStore(database_url, retry_base_s=3600.0)
    try:
        job = store.enqueue(NewJob("a"))
        store.claim("w", None, LEASE)
        retried = store.fail(job.id, "w", "boom")
        assert retried is not None
        assert retried.run_after >= datetime.now(UTC) + timedelta(minutes=59)
        assert store.claim("w", None, LEASE) is None
        store.claim("w", None, LEASE)
        not_retried = store.fail(job.id, "w", "boom", retry=False)
        assert not_retried is None  # it was not claimed: not this worker's
    finally:
        store.close()


def test_a_job_failed_without_retry_fails_at_once(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("a", max_attempts=5))
    jobs.claim("w", None, LEASE)
    failed = jobs.fail(job.id, "w", "bad params", retry=False)
    assert failed is not None
    assert failed.status is JobStatus.FAILED


def test_a_released_job_is_queued_again_without_counting_the_attempt(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("a"))
    jobs.claim("w1", None, LEASE)
    assert jobs.release(job.id, "w1")
    released = jobs.get_job(job.id)
    assert (released.status, released.attempts, released.claimed_by) == (JobStatus.QUEUED, 0, None)
    again = jobs.claim("w2", None, LEASE)
    assert again is not None
    assert (again.id, again.attempts) == (job.id, 1)


def test_a_job_whose_lease_expired_is_requeued_then_failed(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("a", max_attempts=2))
    jobs.claim("dead-worker", None, 0.05)
    _wait_until(lambda: jobs.requeue_expired() == 1 or jobs.get_job(job.id).status is JobStatus.QUEUED)
    requeued = jobs.get_job(job.id)
    assert requeued.status is JobStatus.QUEUED
    assert requeued.error is not None
    assert "dead-worker" in requeued.error
    assert not jobs.heartbeat(job.id, "dead-worker", LEASE)  # the late worker learns it lost the job

    jobs.claim("dead-again", None, 0.05)
    _wait_until(lambda: jobs.requeue_expired() == 1 or jobs.get_job(job.id).status is JobStatus.FAILED)
    assert jobs.get_job(job.id).status is JobStatus.FAILED


def test_a_live_lease_is_not_requeued(jobs: SqlJobStore) -> None:
    job = jobs.enqueue(NewJob("a"))
    jobs.claim("w", None, LEASE)
    assert jobs.requeue_expired() == 0
    assert jobs.get_job(job.id).status is JobStatus.RUNNING


def test_cancelling(jobs: SqlJobStore) -> None:
    queued = jobs.enqueue(NewJob("a", priority=-1))
    running = jobs.enqueue(NewJob("a"))
    jobs.claim("w", None, LEASE)

    assert jobs.cancel(queued.id).status is JobStatus.CANCELLED
    assert jobs.cancel(running.id).status is JobStatus.CANCELLED
    assert not jobs.progress(running.id, "w", 0.9, "", LEASE)  # the worker sees it and stops
    assert not jobs.finish(running.id, "w", {"late": True})
    assert jobs.get_job(running.id).result is None
    assert jobs.claim("w", None, LEASE) is None
    with pytest.raises(BerthError) as caught:
        jobs.cancel(running.id)
    assert caught.value.code is ErrorCode.CONFLICT


def test_unknown_jobs_and_bad_input(jobs: SqlJobStore) -> None:
    for missing in (999, 0, -1, 2**40):
        with pytest.raises(BerthError) as caught:
            jobs.get_job(missing)
        assert caught.value.code is ErrorCode.JOB_NOT_FOUND
    with pytest.raises(BerthError) as bad_kind:
        jobs.enqueue(NewJob("Not A Kind"))
    assert bad_kind.value.code is ErrorCode.UNKNOWN_JOB_KIND
    with pytest.raises(BerthError) as bad_params:
        jobs.enqueue(NewJob("a", {"x": float("nan")}))
    assert bad_params.value.code is ErrorCode.INVALID_JOB_PARAMS
    job = jobs.enqueue(NewJob("a"))
    jobs.claim("w", None, LEASE)
    with pytest.raises(BerthError) as bad_progress:
        jobs.progress(job.id, "w", 1.5, "", LEASE)
    assert bad_progress.value.code is ErrorCode.INVALID_REQUEST


def test_listing_filters_newest_first(jobs: SqlJobStore) -> None:
    first = jobs.enqueue(NewJob("a"))
    second = jobs.enqueue(NewJob("b"))
    third = jobs.enqueue(NewJob("a"))
    jobs.claim("w", ["b"], LEASE)
    assert [j.id for j in jobs.list_jobs(JobQuery())] == [third.id, second.id, first.id]
    assert [j.id for j in jobs.list_jobs(JobQuery(kind="a"))] == [third.id, first.id]
    assert [j.id for j in jobs.list_jobs(JobQuery(status=JobStatus.RUNNING))] == [second.id]
    assert [j.id for j in jobs.list_jobs(JobQuery(limit=1, before=third.id))] == [second.id]


def test_triggers_are_kept_and_fire_jobs(jobs: SqlJobStore) -> None:
    spec = TriggerSpec("nightly", "batch-score", {"model": "churn"}, every_s=86400, created_by="alice")
    added = jobs.add_trigger(spec)
    assert (added.spec, added.last_fired_at, added.state) == (spec, None, {})
    with pytest.raises(BerthError) as twice:
        jobs.add_trigger(spec)
    assert twice.value.code is ErrorCode.ALREADY_EXISTS

    job = jobs.fire("nightly", reason="asked", actor="bob")
    assert (job.kind, job.params, job.trigger, job.reason, job.created_by) == (
        "batch-score",
        {"model": "churn"},
        "nightly",
        "asked",
        "bob",
    )
    assert jobs.get_trigger("nightly").last_fired_at is not None
    assert [j.id for j in jobs.list_jobs(JobQuery(trigger="nightly"))] == [job.id]

    jobs.set_trigger_enabled("nightly", False)
    with pytest.raises(BerthError) as disabled:
        jobs.fire("nightly", reason="")
    assert disabled.value.code is ErrorCode.CONFLICT
    assert [t.name for t in jobs.list_triggers()] == ["nightly"]
    jobs.delete_trigger("nightly")
    with pytest.raises(BerthError) as gone:
        jobs.get_trigger("nightly")
    assert gone.value.code is ErrorCode.TRIGGER_NOT_FOUND


def test_a_due_trigger_fires_once_however_many_workers_decide_it(jobs: SqlJobStore) -> None:
    jobs.add_trigger(TriggerSpec("every-minute", "a", every_s=60))
    seen = jobs.get_trigger("every-minute").last_fired_at
    with ThreadPoolExecutor(4) as pool:
        fired = list(
            pool.map(
                lambda _: jobs.fire_if_unchanged("every-minute", seen, reason="due", state={"n": 1}),
                range(8),
            )
        )
    assert sum(1 for f in fired if f is not None) == 1
    assert jobs.get_trigger("every-minute").state == {"n": 1}
    assert len(jobs.list_jobs(JobQuery(trigger="every-minute"))) == 1


def test_a_due_trigger_does_not_fire_while_its_last_job_is_pending(jobs: SqlJobStore) -> None:
    """Queued or running, the trigger's job holds the next firing back; once it ended (or by hand)
    the trigger fires again."""
    jobs.add_trigger(TriggerSpec("on-fixes", "a", corrections_endpoint="router", corrections_count=3))
    first = jobs.fire_if_unchanged("on-fixes", None, reason="3 new", state={})
    assert first is not None
    fired_at = jobs.get_trigger("on-fixes").last_fired_at
    assert jobs.fire_if_unchanged("on-fixes", fired_at, reason="queued", state={}) is None
    claimed = jobs.claim("w1", ["a"], 30.0)
    assert claimed is not None
    assert claimed.id == first.id
    assert jobs.fire_if_unchanged("on-fixes", fired_at, reason="running", state={}) is None
    jobs.enqueue(NewJob("a"))  # a job of the same kind enqueued by hand is not the trigger's
    assert jobs.finish(first.id, "w1", {"ok": True})
    second = jobs.fire_if_unchanged("on-fixes", fired_at, reason="3 more", state={})
    assert second is not None
    assert second.reason == "3 more"
    assert jobs.fire("on-fixes", reason="by hand").trigger == "on-fixes"  # a person is not held back


def test_a_disabled_trigger_does_not_fire_when_due(jobs: SqlJobStore) -> None:
    jobs.add_trigger(TriggerSpec("off", "a", every_s=1, enabled=False))
    assert jobs.fire_if_unchanged("off", None, reason="due", state={}) is None


def test_bad_triggers_are_refused(jobs: SqlJobStore) -> None:
    bad = [
        TriggerSpec("Bad Name", "a"),
        TriggerSpec("t", "a", every_s=0),
        TriggerSpec("t", "a", corrections_endpoint="ep"),
        TriggerSpec("t", "a", corrections_endpoint="ep", corrections_count=0),
        TriggerSpec("t", "a", params={"x": {1, 2}}),  # type: ignore[dict-item]
    ]
    for spec in bad:
        with pytest.raises(BerthError) as caught:
            jobs.add_trigger(spec)
        assert caught.value.code in (
            ErrorCode.INVALID_NAME,
            ErrorCode.INVALID_REQUEST,
            ErrorCode.INVALID_JOB_PARAMS,
        )
    assert jobs.list_triggers() == []


def test_threads_claiming_at_once_each_get_different_jobs(jobs: SqlJobStore) -> None:
    ids = {jobs.enqueue(NewJob("a")).id for _ in range(30)}
    claimed: list[int] = []
    lock = threading.Lock()

    def drain(worker: str) -> None:
        while (job := jobs.claim(worker, None, LEASE)) is not None:
            with lock:
                claimed.append(job.id)
            jobs.finish(job.id, worker, None)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(drain, [f"w{i}" for i in range(6)]))
    assert sorted(claimed) == sorted(ids)  # every job once, none twice


def test_processes_claiming_at_once_each_get_different_jobs(jobs: SqlJobStore, database_url: str) -> None:
    ids = {jobs.enqueue(NewJob("a")).id for _ in range(30)}
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(claim_all, [database_url] * 3, ["p0", "p1", "p2"]))
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == sorted(ids)
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs.list_jobs(JobQuery(limit=100)))


def _wait_until(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
