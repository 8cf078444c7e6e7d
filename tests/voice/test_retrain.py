"""The retrain job: a better challenger is promoted (the reason in the alias history), a worse one is
refused, too small a hold-out promotes nothing, and rollback is one command."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from the_voice.data import Split
from the_voice.trainer import VoiceTrainer

from berth.cli.main import cli
from berth.control.retraining.corrections import in_holdout
from berth.control.retraining.job import check_retrain_params, run_retrain_job
from berth.control.retraining.retrain import REFERENCE_ROWS, retrain
from berth.control.retraining.trainers import load_trainer
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import RecordQuery
from berth.core.settings import Settings
from berth.core.training import RetrainParams
from berth.wiring.workspace import Workspace, open_workspace
from tests.voice.conftest import BASE_ROWS
from tests.voice.records import CorrectedRecords
from tests.voice.trainers import CorruptedTrainer

# Each test trains The Voice's classifier (sentence encoder + logistic regression) in process and in
# the worker, besides serving: about 3 minutes on a quiet 2-core machine, more than pytest's 300 s
# default on a loaded one (it timed out once, mid-fit, at 300 s). A hang still ends at 15 minutes.
pytestmark = pytest.mark.timeout(900)

PARAMS = {
    "model": "voice-classifier",
    "trainer": "voice",
    "endpoint": "feedback-router",
    "trainer_options": {"base_rows": BASE_ROWS},
}


@dataclass
class Context:
    """What the job runner gives a job: its workspace and a progress report."""

    workspace: Workspace
    reports: list[tuple[float, str]] = field(default_factory=list)

    def progress(self, fraction: float, message: str = "") -> None:
        self.reports.append((fraction, message))


def corrections(truth: Split) -> CorrectedRecords:
    return CorrectedRecords("feedback-router", truth.texts, truth.categories)


@dataclass(frozen=True)
class Promoted:
    """One retrain job that promoted its challenger, on a home of its own (tests copy it to change it)."""

    home: Path
    result: dict[str, Any]
    reports: list[tuple[float, str]]
    queries: list[RecordQuery]


@pytest.fixture(scope="module")
def promoted(
    voice_template: Path, analyst_truth: Split, tmp_path_factory: pytest.TempPathFactory
) -> Promoted:
    """The retrain job on the analyst's 800 corrections, run once for the tests that read its outcome
    (it is deterministic: seeded sample, seeded trainer)."""
    home = tmp_path_factory.mktemp("promoted") / "home"
    shutil.copytree(voice_template, home)
    workspace = open_workspace(Settings(home=home, poll_interval_s=0.1))
    try:
        ctx = Context(workspace)
        records = corrections(analyst_truth)
        result = run_retrain_job(dict(PARAMS), ctx, records, actor="retrain job 7")
    finally:
        workspace.close()
    return Promoted(home, result, ctx.reports, records.queries)


@pytest.fixture
def promoted_workspace(promoted: Promoted) -> Iterator[Workspace]:
    opened = open_workspace(Settings(home=promoted.home, poll_interval_s=0.1))
    yield opened
    opened.close()


def test_a_better_challenger_is_promoted_with_the_job_and_both_scores_in_the_alias_history(
    promoted: Promoted, promoted_workspace: Workspace, analyst_truth: Split
) -> None:
    result, workspace = promoted.result, promoted_workspace

    assert result["promoted"] is True, result["reason"]
    assert result["champion"]["version"] == 1
    assert result["challenger"]["version"] == 2
    assert result["challenger"]["holdout_accuracy"] >= result["champion"]["holdout_accuracy"] + 0.01
    assert result["corrections"] == len(analyst_truth)
    assert 100 <= result["holdout_rows"] <= 220  # about 20% of 800
    corrected_base_rows = len(
        set(analyst_truth.texts) & set(VoiceTrainer({"base_rows": BASE_ROWS}).base_data()[0])
    )
    assert (
        result["train_rows"] == BASE_ROWS - corrected_base_rows + len(analyst_truth) - result["holdout_rows"]
    )
    assert workspace.store.resolve("voice-classifier", "champion").number == 2
    assert workspace.store.resolve("voice-classifier", "challenger").number == 2
    last = workspace.store.alias_history("voice-classifier", "champion")[-1]
    assert (last.from_version, last.to_version, last.actor) == (1, 2, "retrain job 7")
    assert "retrain job 7" in last.reason
    assert f"{result['challenger']['holdout_accuracy']:.4f}" in last.reason
    assert f"{result['champion']['holdout_accuracy']:.4f}" in last.reason
    pushed = workspace.store.get_version("voice-classifier", 2).metadata
    assert pushed.metrics["holdout_accuracy"] == result["challenger"]["holdout_accuracy"]
    assert pushed.metrics["champion_holdout_accuracy"] == result["champion"]["holdout_accuracy"]
    assert 0.0 < pushed.metrics["accuracy"] <= 1.0  # the trainer's test split
    assert "corrections of endpoint 'feedback-router'" in pushed.training_data
    profile = workspace.profiles.get_profile("voice-classifier", 2)  # drift is watched for the new champion
    assert profile["rows"] == min(REFERENCE_ROWS, result["train_rows"])
    assert result["reference_profile"] == f"{profile['rows']} rows"
    assert profile["inputs"]["text"]["kind"] == "text"
    assert set(profile["inputs"]) == {"text"}
    assert [q.after for q in promoted.queries] == [None, "500"]  # read page by page
    assert {(q.endpoint, q.with_feedback) for q in promoted.queries} == {("feedback-router", True)}
    fractions = [f for f, _ in promoted.reports]
    assert fractions == sorted(fractions)
    assert (fractions[0], fractions[-1]) == (0.0, 1.0)
    assert promoted.reports[-1][1].startswith("promoted: ")


def test_a_worse_challenger_is_pushed_but_not_promoted(workspace: Workspace, analyst_truth: Split) -> None:
    params = RetrainParams.parse(PARAMS)
    trainer = CorruptedTrainer({"base_rows": BASE_ROWS})
    outcome = retrain(params, trainer, workspace, corrections(analyst_truth), lambda *_: None, actor="job 8")

    assert outcome.decision.promote is False
    assert outcome.challenger_score < (outcome.champion_score or 0.0) + 0.01
    assert "kept v1" in outcome.decision.reason
    assert workspace.store.resolve("voice-classifier", "champion").number == 1
    assert workspace.store.resolve("voice-classifier", "challenger").number == 2
    assert [e.to_version for e in workspace.store.alias_history("voice-classifier", "champion")] == [1]


def test_too_small_a_hold_out_promotes_nothing(workspace: Workspace, analyst_truth: Split) -> None:
    few = analyst_truth.sample(30, seed=2)
    result = run_retrain_job(
        {**PARAMS, "min_holdout": 20}, Context(workspace), corrections(few), actor="job 9"
    )
    assert result["promoted"] is False
    assert result["holdout_rows"] < 20
    assert "hold-out corrections (< 20)" in result["reason"]
    assert workspace.store.resolve("voice-classifier", "champion").number == 1


def test_rollback_is_one_command(promoted: Promoted, tmp_path: Path) -> None:
    assert promoted.result["promoted"]
    voice_home = tmp_path / "home"
    shutil.copytree(promoted.home, voice_home)
    rolled = CliRunner().invoke(
        cli,
        [
            "alias",
            "set",
            "voice-classifier",
            "champion",
            "1",
            "--home",
            str(voice_home),
            "--reason",
            "rollback",
        ],
        env={"BERTH_URL": ""},
    )
    assert rolled.exit_code == 0, rolled.output
    assert "voice-classifier@champion: v2 -> v1" in rolled.output
    workspace = open_workspace(Settings(home=voice_home))
    try:
        assert workspace.store.resolve("voice-classifier", "champion").number == 1
        history = workspace.store.alias_history("voice-classifier", "champion")
        assert [e.to_version for e in history] == [1, 2, 1]
    finally:
        workspace.close()


def test_the_hold_out_is_a_stable_fifth_of_the_prediction_ids() -> None:
    ids = [f"prediction-{i}" for i in range(5000)]
    chosen = [i for i in ids if in_holdout(i, 20)]
    assert 0.18 < len(chosen) / len(ids) < 0.22
    assert chosen == [i for i in ids if in_holdout(i, 20)]
    assert set(chosen) <= {i for i in ids if in_holdout(i, 30)}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"trainer": "voice", "endpoint": "e"}, "'model' is required"),
        ({**PARAMS, "margin": "a lot"}, "'margin' must be a number"),
        ({**PARAMS, "margin": float("nan")}, "'margin' must be a number"),
        ({**PARAMS, "holdout_percent": 95}, "'holdout_percent' must be an integer in [1, 90]"),
        ({**PARAMS, "alias": "same", "challenger_alias": "same"}, "must differ"),
        ({**PARAMS, "trainer_options": []}, "'trainer_options' must be an object"),
        ({**PARAMS, "python": "os:system"}, "unknown parameters ['python']"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(params: dict[str, Any], message: str) -> None:
    with pytest.raises(BerthError) as refused:
        check_retrain_params(params)
    assert refused.value.code is ErrorCode.INVALID_JOB_PARAMS
    assert message in refused.value.message


def test_check_fills_in_the_defaults() -> None:
    assert check_retrain_params(PARAMS) == {
        **PARAMS,
        "alias": "champion",
        "challenger_alias": "challenger",
        "margin": 0.01,
        "holdout_percent": 20,
        "min_holdout": 20,
    }


def test_trainers_are_installed_entry_points_only() -> None:
    assert isinstance(load_trainer("voice", {"base_rows": 200}), VoiceTrainer)
    with pytest.raises(
        BerthError, match=re.escape("no trainer 'the_voice.trainer:train' is installed; installed trainers: ")
    ):
        load_trainer("the_voice.trainer:train", {})
    with pytest.raises(
        BerthError, match=re.escape("trainer 'voice' refused its options: unknown trainer options")
    ):
        load_trainer("voice", {"epochs": 3})
