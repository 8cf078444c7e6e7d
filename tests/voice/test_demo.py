"""``berth demo`` finds The Voice through the ``berth.demos`` entry points."""

from __future__ import annotations

from pathlib import Path

from berth.cli.demo import installed_demos
from berth.cli.demo_triggers import install_triggers
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace


def test_the_voice_is_an_installed_demo_with_a_try_it_for_feedback_router() -> None:
    demos = {module.__name__: module for module in installed_demos()}
    assert "the_voice.demo" in demos
    lines = demos["the_voice.demo"].try_it("http://127.0.0.1:9")
    assert len(lines) == 3
    assert "curl -s -X POST http://127.0.0.1:9/v2/models/feedback-router/infer" in lines[1]


def test_the_voice_asks_for_a_retrain_trigger_that_the_demo_makes_once(tmp_path: Path) -> None:
    """Made once with its count, kept (with its state) by the next run, replaced when the count
    changes (another ``--retrain-after``)."""
    voice = {module.__name__: module for module in installed_demos()}["the_voice.demo"]
    workspace = open_workspace(Settings(home=tmp_path / "home"))
    try:
        assert install_triggers(workspace.jobs, voice.retrain_triggers(20)) == ["voice-retrain"]
        assert install_triggers(workspace.jobs, voice.retrain_triggers(20)) == []
        assert install_triggers(workspace.jobs, voice.retrain_triggers(5)) == ["voice-retrain"]
        spec = workspace.jobs.get_trigger("voice-retrain").spec
        assert (spec.kind, spec.corrections_endpoint, spec.corrections_count) == (
            "retrain",
            "feedback-router",
            5,
        )
        assert (spec.params["model"], spec.params["trainer"]) == ("voice-classifier", "voice")
        assert [t.name for t in workspace.jobs.list_triggers()] == ["voice-retrain"]
    finally:
        workspace.close()


def test_the_voice_tells_its_story_in_three_lines() -> None:
    voice = {module.__name__: module for module in installed_demos()}["the_voice.demo"]
    lines = voice.story("http://127.0.0.1:9", 20)
    assert len(lines) == 3
    assert "clusters" in lines[0]
    assert "every 20 corrections" in lines[1]
    assert "http://127.0.0.1:9/ui/#/models/voice-classifier" in lines[2]
