"""Background jobs and their triggers: the words of the job runner (``berth worker``).

A `Job` is one piece of background work of a *kind* (``batch-score``, later ``retrain``…) with
JSON parameters. It is queued, claimed by one worker for a lease that the worker keeps extending
while it runs, and ends succeeded (with a JSON result), failed (with an error, after its retries)
or cancelled. A `Trigger` enqueues jobs of one kind: when fired by hand or by an alert, every N
seconds, or when N new corrections (feedback) arrived for an endpoint.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode

JsonObject = dict[str, Any]

MAX_PARAMS_BYTES: Final = 64 * 1024
"""Largest JSON text of a job's parameters (a job names its data; it does not carry it)."""
MAX_PRIORITY: Final = 1000
MAX_ATTEMPTS: Final = 20
MAX_EVERY_S: Final = 366 * 24 * 3600
MAX_COUNT: Final = 2**31 - 1
MAX_TEXT: Final = 10_000
"""Longest error or progress message kept (longer ones are cut)."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue. `trigger` names the trigger that fired it ('' when enqueued by hand);
    `reason` says why it was enqueued (a trigger's reason, an alert)."""

    kind: str
    params: JsonObject = field(default_factory=dict)
    priority: int = 0
    max_attempts: int = 3
    created_by: str = ""
    trigger: str = ""
    reason: str = ""
    run_after: datetime | None = None
    traceparent: str | None = None
    """The W3C ``traceparent`` of the traced request that enqueued it (its run's span links to it)."""

    def checked(self) -> NewJob:
        """This job, or INVALID_JOB_PARAMS / UNKNOWN_JOB_KIND naming what is wrong with it."""
        check_kind_name(self.kind)
        check_params(self.params)
        check_int("priority", self.priority, -MAX_PRIORITY, MAX_PRIORITY)
        check_int("max_attempts", self.max_attempts, 1, MAX_ATTEMPTS)
        return self


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored. `progress` is a fraction in [0, 1]; `attempts` counts claims so far."""

    id: int
    kind: str
    params: JsonObject
    status: JobStatus
    priority: int
    created_at: datetime
    created_by: str
    trigger: str
    reason: str
    run_after: datetime
    attempts: int
    max_attempts: int
    claimed_by: str | None
    lease_until: datetime | None
    heartbeat_at: datetime | None
    progress: float
    progress_message: str
    result: Any
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    traceparent: str | None = None
    """The ``traceparent`` of the traced request that enqueued it (None: untraced)."""

    def to_json(self) -> JsonObject:
        times = ("created_at", "run_after", "lease_until", "heartbeat_at", "started_at", "finished_at")
        body: JsonObject = {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "status": self.status.value,
            "priority": self.priority,
            "created_by": self.created_by,
            "trigger": self.trigger,
            "reason": self.reason,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "claimed_by": self.claimed_by,
            "progress": self.progress,
            "progress_message": self.progress_message,
            "result": self.result,
            "error": self.error,
            "traceparent": self.traceparent,
        }
        for name in times:
            value = getattr(self, name)
            body[name] = None if value is None else value.isoformat()
        return body


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs to list, newest first: every given field narrows; `before` is an id cursor."""

    status: JobStatus | None = None
    kind: str | None = None
    trigger: str | None = None
    limit: int = 50
    before: int | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """What a trigger enqueues and when. With no condition it fires only when asked (`fire`);
    `every_s`: every so many seconds (in the workers); `corrections`: when `corrections_count` new
    feedback items arrived for `corrections_endpoint` since it last fired; `alert_rule`: when that
    alert rule fires (the alerting code calls it)."""

    name: str
    kind: str
    params: JsonObject = field(default_factory=dict)
    every_s: int | None = None
    corrections_endpoint: str | None = None
    corrections_count: int | None = None
    alert_rule: str | None = None
    enabled: bool = True
    created_by: str = ""
    alert_rule_uid: str | None = None
    """The identity of the rule `alert_rule` named when the trigger was made (set by the store, never
    taken from a request): the trigger fires for that rule only."""

    @classmethod
    def from_json(cls, body: Any, *, created_by: str = "") -> TriggerSpec:
        """A spec from its JSON form (the fields of `TriggerSpec`; INVALID_REQUEST on unknown ones)."""
        fields = {"name", "kind", "params", "every_s", "corrections_endpoint", "corrections_count"}
        fields |= {"alert_rule", "enabled"}
        if not isinstance(body, dict) or not set(body) <= fields or not {"name", "kind"} <= set(body):
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"a trigger is a JSON object with name, kind and {sorted(fields)}"
            )
        return cls(**body, created_by=created_by)

    def checked(self) -> TriggerSpec:
        check_trigger_name(self.name)
        check_kind_name(self.kind)
        check_params(self.params)
        if not isinstance(self.enabled, bool):
            raise BerthError(ErrorCode.INVALID_REQUEST, "enabled must be true or false")
        if self.every_s is not None:
            check_int("every_s", self.every_s, 1, MAX_EVERY_S)
        if (self.corrections_endpoint is None) != (self.corrections_count is None):
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                "a corrections trigger needs both corrections_endpoint and corrections_count",
            )
        if self.corrections_count is not None:
            check_int("corrections_count", self.corrections_count, 1, MAX_COUNT)
        if self.corrections_endpoint is not None:
            check_text("corrections_endpoint", self.corrections_endpoint, 128)
        if self.alert_rule is not None:
            check_text("alert_rule", self.alert_rule, 128)
        return self


@dataclass(frozen=True, slots=True)
class Trigger:
    """A trigger as stored: its spec, when it last fired, and its own state (e.g. a cursor)."""

    spec: TriggerSpec
    created_at: datetime
    last_fired_at: datetime | None
    state: JsonObject

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self) -> JsonObject:
        spec = self.spec
        return {
            "name": spec.name,
            "kind": spec.kind,
            "params": spec.params,
            "every_s": spec.every_s,
            "corrections_endpoint": spec.corrections_endpoint,
            "corrections_count": spec.corrections_count,
            "alert_rule": spec.alert_rule,
            "alert_rule_id": spec.alert_rule_uid,
            "enabled": spec.enabled,
            "created_by": spec.created_by,
            "created_at": self.created_at.isoformat(),
            "last_fired_at": None if self.last_fired_at is None else self.last_fired_at.isoformat(),
            "state": self.state,
        }


def retry_delay_s(attempts: int, base_s: float) -> float:
    """How long a failed job waits before its next attempt: `base_s` doubled per attempt, at most an hour."""
    return float(min(base_s * 2.0 ** max(attempts - 1, 0), 3600.0))


def check_kind_name(kind: str) -> str:
    if not isinstance(kind, str) or not _NAME.match(kind):
        raise BerthError(
            ErrorCode.UNKNOWN_JOB_KIND,
            f"invalid job kind {str(kind)[:80]!r}: lowercase letters, digits, '.', '_' and '-' (64 at most)",
            kind=str(kind)[:80],
        )
    return kind


def check_trigger_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid trigger name {str(name)[:80]!r}: lowercase letters, digits, '.', '_' and '-' "
            "(64 at most)",
        )
    return name


def check_params(params: Any) -> JsonObject:
    """`params` when it is a JSON object of at most `MAX_PARAMS_BYTES`, else INVALID_JOB_PARAMS."""
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, "job parameters must be a JSON object")
    try:
        text = json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, f"job parameters are not plain JSON: {exc}") from None
    if len(text.encode()) > MAX_PARAMS_BYTES:
        raise BerthError(
            ErrorCode.INVALID_JOB_PARAMS, f"job parameters exceed {MAX_PARAMS_BYTES} bytes of JSON"
        )
    return params


def check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{name} must be an integer in [{low}, {high}]")
    return value


def check_text(name: str, value: Any, longest: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{name} must be a text of 1 to {longest} characters")
    return value


def check_fraction(value: float) -> float:
    """A progress fraction in [0, 1] (INVALID_REQUEST otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BerthError(ErrorCode.INVALID_REQUEST, "progress must be a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"progress {value} is outside [0, 1]")
    return float(value)


def cut(text: str) -> str:
    """`text` cut to `MAX_TEXT` characters."""
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
