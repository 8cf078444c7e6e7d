"""Job kinds of the tests, registered in worker processes through a ``berth.jobs`` entry point
(`install_test_kinds` writes its metadata into a folder put on ``PYTHONPATH``)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from berth.control.jobs.context import JobContext
from berth.control.jobs.kind import JobKind
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JsonObject


def _check_steps(params: JsonObject) -> JsonObject:
    steps = params.get("steps", 5)
    step_s = params.get("step_s", 0.01)
    if not isinstance(steps, int) or not 0 < steps <= 10_000 or not isinstance(step_s, int | float):
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, "steps: 1 to 10000; step_s: seconds")
    return {"steps": steps, "step_s": float(step_s), "fail": bool(params.get("fail", False))}


def run_steps(params: JsonObject, ctx: JobContext) -> Any:
    """Count to `steps`, a step every `step_s` seconds, reporting progress; notes every run it makes
    as a file ``runs/<job>-<random>`` in the home folder (so tests count how often a job ran)."""
    runs = ctx.home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{ctx.job.id}-{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()
    if params.get("fail"):
        raise RuntimeError("asked to fail")
    for step in range(1, params["steps"] + 1):
        time.sleep(params["step_s"])
        ctx.progress(step / params["steps"], f"step {step} of {params['steps']}")
    return {"steps": params["steps"], "pid": os.getpid()}


STEPS = JobKind("test-steps", run_steps, _check_steps, "counts slowly (tests)")


def runs_of(home: Path, job_id: int) -> int:
    """How many times job `job_id` started running (see `run_steps`)."""
    folder = home / "runs"
    return len(list(folder.glob(f"{job_id}-*"))) if folder.exists() else 0


def install_test_kinds(folder: Path) -> Path:
    """A folder with the metadata of a distribution registering `STEPS` under ``berth.jobs``."""
    dist = folder / "berth_test_kinds-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: berth-test-kinds\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text("[berth.jobs]\ntest-steps = tests.jobs.kinds:STEPS\n")
    return folder
