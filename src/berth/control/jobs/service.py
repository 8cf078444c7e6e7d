"""Jobs as callers see them: enqueue a known kind with checked parameters, cancel, read; triggers.

Both the server's ``/api/v1/jobs`` routes and the embedded CLI (``--home``) go through here, so a
job of an unknown kind, with bad parameters or a missing input is refused the same way
(UNKNOWN_JOB_KIND, INVALID_JOB_PARAMS, JOB_INPUT_NOT_FOUND) before it reaches the queue.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from berth.control.jobs.kinds import JobKinds
from berth.core.jobs import Job, JobQuery, NewJob, Trigger, TriggerSpec
from berth.storage.job_protocols import JobStore


class JobService:
    def __init__(self, store: JobStore, kinds: JobKinds, home: Path | None = None) -> None:
        self.store = store
        self.kinds = kinds
        self.home = home
        """The home folder job inputs are named in: with it, a job's inputs are checked when it is
        enqueued (a trigger's are not: its job runs later, when its files may be there)."""

    def enqueue(self, job: NewJob) -> Job:
        params = self.kinds.checked_params(job.kind, job.params)
        if self.home is not None:
            self.kinds.check_inputs(job.kind, params, self.home)
        return self.store.enqueue(replace(job, params=params).checked())

    def get_job(self, job_id: int) -> Job:
        return self.store.get_job(job_id)

    def list_jobs(self, query: JobQuery) -> list[Job]:
        return self.store.list_jobs(query)

    def cancel(self, job_id: int) -> Job:
        return self.store.cancel(job_id)

    # -- triggers ------------------------------------------------------------------------------
    def add_trigger(self, spec: TriggerSpec) -> Trigger:
        params = self.kinds.checked_params(spec.kind, spec.params)
        return self.store.add_trigger(replace(spec, params=params))

    def get_trigger(self, name: str) -> Trigger:
        return self.store.get_trigger(name)

    def list_triggers(self) -> list[Trigger]:
        return self.store.list_triggers()

    def set_trigger_enabled(self, name: str, enabled: bool) -> Trigger:
        return self.store.set_trigger_enabled(name, enabled)

    def delete_trigger(self, name: str) -> None:
        self.store.delete_trigger(name)

    def fire_trigger(self, name: str, reason: str, *, actor: str = "") -> Job:
        """Enqueue the trigger's job now (on demand, or from an alert: the alerting code calls this)."""
        return self.store.fire(name, reason=reason, actor=actor)

    def fire_alert(self, rule_uid: str, reason: str) -> list[Job]:
        """Fire every enabled trigger listening to the alert rule whose identity is `rule_uid`; the
        jobs enqueued. A trigger listens to one rule, not to a name: a rule created later under the
        name of a deleted one fires none of the old rule's triggers."""
        fired = []
        for trigger in self.store.list_triggers():
            spec = trigger.spec
            if spec.enabled and spec.alert_rule is not None and spec.alert_rule_uid == rule_uid:
                fired.append(self.store.fire(trigger.name, reason=reason, actor=f"alert:{spec.alert_rule}"))
        return fired

    def describe_kinds(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "description": self.kinds.get(name).description} for name in self.kinds.names()
        ]
