"""The ``retrain`` job: train a challenger from base data and corrections, judge it against the
champion on a gold hold-out, push it, and promote it only when it wins by the margin.

Stages (each reports progress): read the corrections -> build the training set (the base data less
the rows analysts corrected, plus the corrections outside the hold-out) -> train the challenger
(the champion keeps serving) -> push it under the alias ``challenger`` (before the evaluation, so
servers load and warm it meanwhile and a promotion switches traffic at once), with a reference
profile of a seeded sample of its training rows (`REFERENCE_ROWS`), so drift is monitored against
what every champion was trained on -> evaluate both on
the hold-out (the challenger's metrics get both scores) -> move the alias ``champion`` to it, or
not, with the reason in the alias history. Servers follow the alias within their reconcile poll;
rollback is ``berth alias set MODEL champion OLD``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from berth.control.jobs.context import JobWorkspace
from berth.control.monitoring.profiling import build_version_profile
from berth.control.retraining.corrections import Corrections, RecordReader, read_corrections
from berth.control.retraining.decision import Decision, decide
from berth.control.retraining.evaluation import model_accuracy, version_accuracy
from berth.core.entities import PushRequest, Version, VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.core.training import RetrainParams, Trainer

REFERENCE_ROWS = 2_000
"""Training rows (a seeded sample) summarised into the challenger's reference profile."""
REFERENCE_SEED = 0

Progress = Callable[[float, str], None]
"""``progress(fraction, message)``: a job context's ``progress`` (it raises when the job must stop)."""


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    model: str
    champion: int | None
    champion_score: float | None
    challenger: int
    challenger_score: float
    decision: Decision
    corrections: int
    holdout_rows: int
    train_rows: int
    test_accuracy: float | None
    profile: str
    """``"N rows"`` when the challenger got its reference profile, else why not."""
    refused: dict[str, int] = field(default_factory=dict)
    """Corrections not used, by reason (a batched prediction's label, feedback without a label)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "champion": {"version": self.champion, "holdout_accuracy": self.champion_score},
            "challenger": {
                "version": self.challenger,
                "holdout_accuracy": self.challenger_score,
                "accuracy": self.test_accuracy,
            },
            "promoted": self.decision.promote,
            "reason": self.decision.reason,
            "corrections": self.corrections,
            "holdout_rows": self.holdout_rows,
            "train_rows": self.train_rows,
            "reference_profile": self.profile,
            "refused_corrections": dict(self.refused),
        }


def retrain(
    params: RetrainParams,
    trainer: Trainer,
    workspace: JobWorkspace,
    records: RecordReader,
    progress: Progress,
    *,
    actor: str = "retrain",
) -> RetrainOutcome:
    """Run one champion/challenger round; `actor` (e.g. ``"retrain job 12"``) names it in the
    version's tags and the alias history."""
    progress(0.0, f"reading corrections of endpoint {params.endpoint}")
    corrections = read_corrections(records, params.endpoint, trainer, params.holdout_percent)
    refused = "".join(f"; {n} not used: {reason}" for reason, n in sorted(corrections.refused.items()))
    progress(
        0.1, f"{corrections.total} corrections ({len(corrections.holdout_rows)} in the hold-out){refused}"
    )
    base_rows, base_labels = _without_corrected(*trainer.base_data(), corrections)
    rows = [*base_rows, *corrections.train_rows]
    if not rows:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, "the trainer gave no base data and there are no corrections"
        )
    progress(0.15, f"training the challenger on {len(rows)} rows")
    model = trainer.train((base_rows, base_labels), (corrections.train_rows, corrections.train_labels))
    test_accuracy = _test_accuracy(model, trainer)
    progress(0.6, "pushing the challenger")  # now, so servers load it while both are evaluated
    metrics = _metrics(corrections, len(rows), test_accuracy)
    version = _push(model, trainer, workspace, params, actor, corrections, rows, metrics)
    profile = _put_profile(workspace, trainer, version, rows)
    progress(0.65, f"reference profile: {profile}")
    progress(0.7, "evaluating the champion and the challenger on the hold-out")
    champion, champion_score, challenger_score = _judge(workspace, params, trainer, model, corrections)
    metrics["holdout_accuracy"] = challenger_score
    if champion_score is not None:
        metrics["champion_holdout_accuracy"] = champion_score
    workspace.store.update_version_metadata(params.model, version.number, {"metrics": metrics})
    decision = decide(
        actor=actor,
        model=params.model,
        champion=None if champion is None else champion.number,
        champion_score=champion_score,
        challenger=version.number,
        challenger_score=challenger_score,
        margin=params.margin,
        holdout_rows=len(corrections.holdout_rows),
        min_holdout=params.min_holdout,
    )
    if decision.promote:
        workspace.store.set_alias(
            params.model, params.alias, version.number, actor=actor, reason=decision.reason
        )
    progress(1.0, ("promoted: " if decision.promote else "not promoted: ") + decision.reason)
    return RetrainOutcome(
        model=params.model,
        champion=None if champion is None else champion.number,
        champion_score=champion_score,
        challenger=version.number,
        challenger_score=challenger_score,
        decision=decision,
        corrections=corrections.total,
        holdout_rows=len(corrections.holdout_rows),
        train_rows=len(rows),
        test_accuracy=test_accuracy,
        profile=profile,
        refused=dict(corrections.refused),
    )


def _without_corrected(
    rows: list[Any], labels: list[str], corrections: Corrections
) -> tuple[list[Any], list[str]]:
    """The base rows less those an analyst corrected (their label is the correction's, and a
    hold-out row must not be trained on under its old label either). Rows that cannot be hashed
    are all kept."""
    try:
        corrected = {*corrections.train_rows, *corrections.holdout_rows}
        kept = [i for i, row in enumerate(rows) if row not in corrected]
    except TypeError:
        return rows, labels
    return [rows[i] for i in kept], [labels[i] for i in kept]


def _judge(
    workspace: JobWorkspace, params: RetrainParams, trainer: Trainer, model: Any, corrections: Corrections
) -> tuple[Version | None, float | None, float]:
    """The champion (None when the alias does not exist yet), its hold-out accuracy and the
    challenger's, on the same rows."""
    rows, truth = corrections.holdout_rows, corrections.holdout_labels
    champion = _champion(workspace, params)
    champion_score = None if champion is None else version_accuracy(workspace, champion, trainer, rows, truth)
    return champion, champion_score, model_accuracy(model, trainer, rows, truth)


def _champion(workspace: JobWorkspace, params: RetrainParams) -> Version | None:
    try:
        return workspace.store.resolve(params.model, params.alias)
    except BerthError as exc:
        if exc.code in (ErrorCode.MODEL_NOT_FOUND, ErrorCode.ALIAS_NOT_FOUND, ErrorCode.VERSION_NOT_FOUND):
            return None
        raise


def _test_accuracy(model: Any, trainer: Trainer) -> float | None:
    data = trainer.evaluation_data()
    if data is None:
        return None
    return model_accuracy(model, trainer, data[0], data[1])


def _metrics(corrections: Corrections, train_rows: int, test_accuracy: float | None) -> dict[str, float]:
    metrics = {
        "corrections": float(corrections.total),
        "holdout_rows": float(len(corrections.holdout_rows)),
        "train_rows": float(train_rows),
    }
    if test_accuracy is not None:
        metrics["accuracy"] = test_accuracy
    return metrics


def _put_profile(workspace: JobWorkspace, trainer: Trainer, version: Version, rows: list[Any]) -> str:
    """Store `version`'s reference profile, built from a seeded sample of its training rows; a sample
    that cannot be profiled (e.g. more features than a profile holds) leaves the version without
    one, and says why, rather than failing the round."""
    if len(rows) > REFERENCE_ROWS:
        chosen = np.sort(
            np.random.default_rng(REFERENCE_SEED).choice(len(rows), REFERENCE_ROWS, replace=False)
        )
        rows = [rows[i] for i in chosen]
    try:
        profile = build_version_profile(trainer.model_input(rows), version.signature)
    except BerthError as exc:
        return f"none ({exc.message})"
    workspace.profiles.put_profile(version.model, version.number, profile.to_json())
    return f"{profile.rows} rows"


def _push(
    model: Any,
    trainer: Trainer,
    workspace: JobWorkspace,
    params: RetrainParams,
    actor: str,
    corrections: Corrections,
    rows: list[Any],
    metrics: dict[str, float],
) -> Version:
    described = trainer.describe()
    base_rows = len(rows) - len(corrections.train_rows)
    return workspace.publisher.push_object(
        model,
        PushRequest(
            name=params.model,
            metadata=VersionMetadata(
                metrics=dict(metrics),
                params={
                    **dict(described.get("params", {})),
                    "trainer": params.trainer,
                    "margin": params.margin,
                },
                docs=str(described.get("docs", "")),
                training_data=(
                    f"trainer {params.trainer!r}: {base_rows} base rows + {len(corrections.train_rows)} "
                    f"corrections of endpoint {params.endpoint!r} ({len(corrections.holdout_rows)} held out)"
                ),
                tags={"retrained_by": actor, "trainer": params.trainer},
            ),
            input_example=trainer.model_input(rows[:5]),
            aliases=(params.challenger_alias,),
            pushed_by=actor,
            source=actor,
        ),
    )
