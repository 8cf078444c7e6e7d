"""docs/pipelines.md stays true: its examples parse, and the showcase answers what it says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berth.runtime.pipeline import Frame, InMemoryEntitySource, StepContext, parse_pipeline

from .helpers import run

DOC = Path(__file__).resolve().parents[3] / "docs" / "pipelines.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def showcase() -> dict[str, Any]:
    (endpoint,) = [json.loads(b) for b in blocks("json") if '"targets"' in b]
    pipeline: dict[str, Any] = endpoint["pipeline"]
    return pipeline


def test_every_step_example_parses() -> None:
    steps = [json.loads(b) for b in blocks("json") if b.lstrip().startswith('{"type"')]
    assert len(steps) >= 10
    for step in steps:
        phase = (
            "pre"
            if step["type"] in ("select", "rename", "defaults", "scale", "lookup", "features", "python")
            else "post"
        )
        parse_pipeline({phase: [step]})


@pytest.mark.parametrize("rule", blocks("text")[0].strip().splitlines())
def test_every_rule_example_parses(rule: str) -> None:
    parse_pipeline({"post": [{"type": "rules", "rules": [rule]}]})


def test_the_voice_showcase() -> None:
    pipeline = parse_pipeline(showcase())
    customers = InMemoryEntitySource({"customers": {"c-17": {"segment": "retail"}, "c-42": {}}})
    ctx = StepContext(entity_source=customers)
    request = Frame(
        {
            "text": np.array(["Someone used my card: FRAUD!", "Why was I charged twice?"], dtype=object),
            "customer_id": np.array(["c-17", "c-42"], dtype=object),
        }
    )
    inputs = run(pipeline.run_pre(request, ctx))
    assert inputs.names == ("text", "segment")
    assert inputs["segment"].tolist() == ["retail", "retail"]
    classes = ["billing", "cards", "mortgage"]
    outputs = Frame(
        {
            "predict": np.array(["cards", "billing"], dtype=object),
            "predict_proba": np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]]),
        }
    )
    answer = run(pipeline.run_post(outputs, ctx.for_post(inputs, classes)))
    assert answer["team"].tolist() == ["fraud-desk", "finance"]
    assert answer["top_labels"].tolist() == [["cards", "billing"], ["billing", "cards"]]
