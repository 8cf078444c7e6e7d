"""The ``retrain`` job kind: train a challenger from the base data and the analysts' corrections,
judge it against the champion on the same hold-out, push it, and promote it only when it beats the
champion by the margin (`berth.engine.retraining`). Its corrections come from the workspace's
record store: every caller-facing record of the endpoint that has feedback."""

from __future__ import annotations

from typing import Any

from berth.core.jobs import JsonObject
from berth.engine.jobs.context import JobContext
from berth.engine.jobs.kind import JobKind
from berth.engine.retraining.job import check_retrain_params, run_retrain_job


def _run(params: JsonObject, ctx: JobContext) -> Any:
    return run_retrain_job(params, ctx, ctx.workspace.records.store, actor=f"retrain job {ctx.job.id}")


RETRAIN = JobKind(
    "retrain", _run, check_retrain_params, "Train a challenger, promote it when it beats the champion."
)
