"""``berth demo`` finds The Voice through the ``berth.demos`` entry points."""

from __future__ import annotations

from berth.cli.demo import installed_demos


def test_the_voice_is_an_installed_demo_with_a_try_it_for_feedback_router() -> None:
    demos = {module.__name__: module for module in installed_demos()}
    assert "the_voice.demo" in demos
    lines = demos["the_voice.demo"].try_it("http://127.0.0.1:9")
    assert len(lines) == 3
    assert "curl -s -X POST http://127.0.0.1:9/v2/models/feedback-router/infer" in lines[1]
