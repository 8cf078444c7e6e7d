"""The worker loop in this process: jobs run with progress, fail and retry, stop when cancelled,
go back to the queue when the worker stops, and schedule triggers fire."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from berth.control.jobs.kind import JobKind
from berth.control.jobs.triggers import SETTLE_S, SINCE_KEY, TriggerEvaluator
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JobQuery, JobStatus, NewJob, TriggerSpec
from berth.storage.queries import now
from berth.wiring.job_kinds import JobKinds, discover_kinds, installed_kinds
from tests.jobs.conftest import World
from tests.jobs.kinds import runs_of


def test_a_job_runs_to_success_with_its_progress(world: World) -> None:
    job = world.service.enqueue(NewJob("test-steps", {"steps": 4}))
    with world.worker():
        done = world.wait_for(job.id, lambda j: j.status.finished)
    assert done.status is JobStatus.SUCCEEDED
    assert done.result["steps"] == 4
    assert (done.progress, done.progress_message) == (1.0, "step 4 of 4")
    assert runs_of(world.home, job.id) == 1


def test_a_failing_job_is_retried_then_failed(world: World) -> None:
    job = world.service.enqueue(NewJob("test-steps", {"fail": True}, max_attempts=2))
    with world.worker():
        failed = world.wait_for(job.id, lambda j: j.status.finished)
    assert failed.status is JobStatus.FAILED
    assert failed.attempts == 2
    assert failed.error == "RuntimeError: asked to fail"
    assert runs_of(world.home, job.id) == 2


def test_a_cancelled_job_stops_at_its_next_progress_report(world: World) -> None:
    job = world.service.enqueue(NewJob("test-steps", {"steps": 10_000, "step_s": 0.01}))
    with world.worker():
        world.wait_for(job.id, lambda j: j.progress > 0)
        world.service.cancel(job.id)
        assert world.service.get_job(job.id).status is JobStatus.CANCELLED
        # the worker (concurrency 1) is free again only once the cancelled job stopped
        second = world.service.enqueue(NewJob("test-steps", {"steps": 1}))
        assert world.wait_for(second.id, lambda j: j.status.finished).status is JobStatus.SUCCEEDED
    assert world.service.get_job(job.id).result is None
    assert world.service.get_job(job.id).progress < 1.0


def test_a_stopping_worker_gives_its_job_back(world: World) -> None:
    job = world.service.enqueue(NewJob("test-steps", {"steps": 10_000, "step_s": 0.01}))
    with world.worker(grace_s=0.2):
        world.wait_for(job.id, lambda j: j.progress > 0)
    released = world.service.get_job(job.id)
    assert (released.status, released.claimed_by, released.attempts) == (JobStatus.QUEUED, None, 0)


def test_a_stopping_worker_lets_a_short_job_finish(world: World) -> None:
    job = world.service.enqueue(NewJob("test-steps", {"steps": 20, "step_s": 0.05}))
    with world.worker(grace_s=30.0):
        world.wait_for(job.id, lambda j: j.progress > 0)
    assert world.service.get_job(job.id).status is JobStatus.SUCCEEDED


def test_concurrency_runs_jobs_side_by_side(world: World) -> None:
    jobs = [world.service.enqueue(NewJob("test-steps", {"steps": 300, "step_s": 0.01})) for _ in range(3)]
    with world.worker(concurrency=3):
        # each job takes 3 s or more: all three run at once
        world.wait_until(lambda: len(world.service.list_jobs(JobQuery(status=JobStatus.RUNNING))) == 3)
        for job in jobs:
            world.wait_for(job.id, lambda j: j.status.finished)
    assert all(world.service.get_job(j.id).status is JobStatus.SUCCEEDED for j in jobs)


def test_a_schedule_trigger_fires_in_the_worker(world: World) -> None:
    world.service.add_trigger(TriggerSpec("tick", "test-steps", {"steps": 1}, every_s=1))
    with world.worker():
        first = _wait_jobs(world, "tick", 1)
        world.wait_for(first, lambda j: j.status.finished)
    trigger = world.service.get_trigger("tick")
    assert trigger.last_fired_at is not None
    job = world.service.get_job(first)
    assert (job.trigger, job.created_by) == ("tick", "trigger:tick")
    assert job.reason == "schedule: every 1 s"


def _rule(world: World, name: str) -> str:
    spec = {"name": name, "target": "feedback-router", "metric": "error_rate", "op": ">", "threshold": 0.1}
    return world.workspace.alerts.create_rule(spec).uid


def test_an_alert_fires_the_triggers_listening_to_it(world: World) -> None:
    drift, latency = _rule(world, "drift"), _rule(world, "latency")
    world.service.add_trigger(TriggerSpec("on-drift", "test-steps", alert_rule="drift"))
    world.service.add_trigger(TriggerSpec("on-other", "test-steps", alert_rule="latency"))
    assert world.service.get_trigger("on-drift").spec.alert_rule_uid == drift
    fired = world.service.fire_alert(drift, "drift of 0.4 on feedback-router")
    assert [(j.trigger, j.reason) for j in fired] == [("on-drift", "drift of 0.4 on feedback-router")]
    assert [j.trigger for j in world.service.fire_alert(latency, "slow")] == ["on-other"]


def test_a_trigger_listens_to_a_rule_not_to_its_name(world: World) -> None:
    """A rule deleted and created again under its name is another rule: the old rule's triggers
    do not fire for it (nor can a trigger name a rule that does not exist)."""
    first = _rule(world, "drift")
    world.service.add_trigger(TriggerSpec("on-drift", "test-steps", alert_rule="drift"))
    world.workspace.alerts.delete_rule("drift")
    second = _rule(world, "drift")
    assert second != first
    assert world.service.fire_alert(second, "planted") == []
    with pytest.raises(BerthError) as missing:
        world.service.add_trigger(TriggerSpec("on-ghost", "test-steps", alert_rule="ghost"))
    assert missing.value.code is ErrorCode.ALERT_NOT_FOUND


def test_enqueue_checks_the_kind_and_its_parameters(world: World) -> None:
    with pytest.raises(BerthError) as unknown:
        world.service.enqueue(NewJob("no-such-kind"))
    assert unknown.value.code is ErrorCode.UNKNOWN_JOB_KIND
    with pytest.raises(BerthError) as bad:
        world.service.enqueue(NewJob("test-steps", {"steps": "many"}))
    assert bad.value.code is ErrorCode.INVALID_JOB_PARAMS
    with pytest.raises(BerthError) as bad_trigger:
        world.service.add_trigger(TriggerSpec("t", "batch-score", {"model": "m"}))
    assert bad_trigger.value.code is ErrorCode.INVALID_JOB_PARAMS
    assert world.service.list_jobs(JobQuery()) == []


def test_the_installed_kinds_hold_batch_score_and_a_name_is_registered_once() -> None:
    assert "batch-score" in installed_kinds().names()
    assert all(k.name != "batch-score" for k in discover_kinds("berth.no-such-group"))

    def run(params: dict[str, object], ctx: object) -> None:
        return None

    kinds = JobKinds([JobKind("a", run, description="first"), JobKind("a", run, description="second")])
    assert kinds.get("a").description == "first"


def _wait_jobs(world: World, trigger: str, count: int) -> int:
    """The id of the first job `trigger` enqueued, once it enqueued `count`."""
    world.wait_until(lambda: len(world.service.list_jobs(JobQuery(trigger=trigger))) >= count)
    return world.service.list_jobs(JobQuery(trigger=trigger))[-1].id


def test_a_corrections_trigger_fires_when_enough_new_feedback_arrived(world: World) -> None:
    world.service.add_trigger(
        TriggerSpec("on-fixes", "test-steps", corrections_endpoint="router", corrections_count=3)
    )
    feedback: list[datetime] = []  # when each correction was stamped
    base = now()
    clock = [base]

    def corrections_since(
        endpoint: str, since: datetime, *, until: datetime | None = None, held_since: datetime | None = None
    ) -> int:
        return sum(1 for at in feedback if since < at and (until is None or at <= until)) * (
            endpoint == "router"
        )

    def at(seconds: float) -> datetime:
        return base + timedelta(seconds=seconds)

    evaluator = TriggerEvaluator(world.service.store, corrections_since, lambda: clock[0])
    feedback += [at(1), at(2)]
    clock[0] = at(2 + SETTLE_S)
    assert evaluator.evaluate() == []
    feedback.append(at(10))
    clock[0] = at(10)
    assert evaluator.evaluate() == []  # stamped in the last SETTLE_S seconds: it may not be committed yet
    clock[0] = at(10 + SETTLE_S)
    fired = evaluator.evaluate()
    assert [(j.trigger, j.reason) for j in fired] == [("on-fixes", "3 new corrections for router")]
    assert evaluator.evaluate() == []  # counted from the firing on
    since = datetime.fromisoformat(world.service.get_trigger("on-fixes").state[SINCE_KEY])
    assert since == at(10)  # the end of the window counted, not the time the count ran


def test_a_kind_whose_check_breaks_refuses_the_parameters() -> None:
    def run(params: dict[str, object], ctx: object) -> None:
        return None

    def fragile(params: dict[str, object]) -> dict[str, object]:
        return {"n": int(params["n"])}  # type: ignore[call-overload]

    kinds = JobKinds([JobKind("fragile", run, fragile)])
    assert kinds.checked_params("fragile", {"n": "3"}) == {"n": 3}
    for bad in ({}, {"n": "three"}, {"n": [1]}):
        with pytest.raises(BerthError) as caught:
            kinds.checked_params("fragile", bad)
        assert caught.value.code is ErrorCode.INVALID_JOB_PARAMS
