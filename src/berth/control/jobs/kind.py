"""A job kind: a name, the function that runs a job of it, and the check of its parameters.

Packages import it from `berth.extensions`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.control.jobs.context import JobContext
from berth.core.jobs import JsonObject

RunJob = Callable[[JsonObject, JobContext], Any]
"""``run(params, ctx) -> result``: the result must be JSON (it is stored with the job)."""
CheckParams = Callable[[JsonObject], JsonObject]
"""Checks a job's parameters when it is enqueued (and again when it runs): returns them (defaults
filled in) or raises BerthError(INVALID_JOB_PARAMS)."""

CheckInputs = Callable[[JsonObject, Path], None]
"""``check_inputs(params, home)``, with the checked parameters and the berth home folder of the
process that enqueues: that the files the job will read are there (else BerthError
JOB_INPUT_NOT_FOUND), so a missing input is refused when the job is enqueued, not when it runs."""


def any_params(params: JsonObject) -> JsonObject:
    return params


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    run: RunJob
    check_params: CheckParams = any_params
    description: str = ""
    check_inputs: CheckInputs | None = None
