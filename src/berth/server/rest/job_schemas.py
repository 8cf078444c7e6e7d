"""Bodies of the job API (pydantic for the documentation and the shape; the job service checks the
kind and its parameters: UNKNOWN_JOB_KIND / INVALID_JOB_PARAMS, answered 422)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.core.jobs import MAX_ATTEMPTS, MAX_COUNT, MAX_EVERY_S, MAX_PRIORITY, NewJob, TriggerSpec


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobCreate(_Body):
    kind: str = Field(min_length=1, max_length=64, description="a job kind (GET /api/v1/jobs/kinds)")
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters (JSON)")
    priority: int = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="higher runs first")
    max_attempts: int = Field(3, ge=1, le=MAX_ATTEMPTS, description="tries before the job fails")
    reason: str = Field("", max_length=1024)

    def new_job(self, created_by: str) -> NewJob:
        return NewJob(
            self.kind,
            self.params,
            priority=self.priority,
            max_attempts=self.max_attempts,
            created_by=created_by,
            reason=self.reason,
        )


class TriggerCreate(_Body):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    every_s: int | None = Field(None, ge=1, le=MAX_EVERY_S, description="fire every so many seconds")
    corrections_endpoint: str | None = Field(None, min_length=1, max_length=128)
    corrections_count: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="fire when this many new corrections arrived for the endpoint"
    )
    alert_rule: str | None = Field(None, min_length=1, max_length=128, description="fire on this alert")
    enabled: bool = True

    def spec(self, created_by: str) -> TriggerSpec:
        return TriggerSpec(
            name=self.name,
            kind=self.kind,
            params=self.params,
            every_s=self.every_s,
            corrections_endpoint=self.corrections_endpoint,
            corrections_count=self.corrections_count,
            alert_rule=self.alert_rule,
            enabled=self.enabled,
            created_by=created_by,
        )


class TriggerPatch(_Body):
    enabled: bool


class Fire(_Body):
    reason: str = Field("", max_length=1024)
