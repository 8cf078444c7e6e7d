"""``retrain`` as a job kind: ``run(params, ctx)`` for the job runner (``berth worker``).

Parameters (JSON; every trigger — on demand, schedule, N corrections, drift alert — only passes
these)::

    {"model": "voice-classifier",        # the model whose alias is at stake
     "trainer": "voice",                 # an installed entry point of berth.trainers
     "endpoint": "feedback-router",      # whose corrected records are read
     "alias": "champion",                # default
     "challenger_alias": "challenger",   # default
     "margin": 0.01,                     # hold-out accuracy the challenger must gain (default 0.01)
     "holdout_percent": 20,              # share of corrections kept as the gold hold-out (default 20)
     "min_holdout": 20,                  # fewer hold-out corrections: no promotion (default 20)
     "trainer_options": {}}              # given to the trainer's factory
"""

from __future__ import annotations

from typing import Any, Protocol

from berth.control.jobs.context import JobContext, JobWorkspace
from berth.control.jobs.kind import JobKind
from berth.control.retraining.corrections import RecordReader
from berth.control.retraining.trainers import load_trainer
from berth.core.jobs import JsonObject
from berth.core.training import RetrainParams


class RetrainContext(Protocol):
    """What the job needs of a running job's context."""

    @property
    def workspace(self) -> JobWorkspace: ...

    def progress(self, fraction: float, message: str = "") -> None: ...


def check_retrain_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters checked, defaults filled in (INVALID_REQUEST otherwise)."""
    return RetrainParams.parse(params).to_json()


def run_retrain_job(
    params: dict[str, Any], ctx: RetrainContext, records: RecordReader, *, actor: str
) -> dict[str, Any]:
    """One champion/challenger round; the result (JSON) says who won and why."""
    from berth.control.retraining.retrain import retrain  # pandas and the monitor: when a round runs

    parsed = RetrainParams.parse(params)
    trainer = load_trainer(parsed.trainer, parsed.trainer_options)
    outcome = retrain(parsed, trainer, ctx.workspace, records, ctx.progress, actor=actor)
    return outcome.to_json()


def _run(params: JsonObject, ctx: JobContext) -> Any:
    """The kind's run: its corrections come from the workspace's record store (every caller-facing
    record of the endpoint that has feedback)."""
    return run_retrain_job(params, ctx, ctx.workspace.records.store, actor=f"retrain job {ctx.job.id}")


RETRAIN = JobKind(
    "retrain", _run, check_retrain_params, "Train a challenger, promote it when it beats the champion."
)
