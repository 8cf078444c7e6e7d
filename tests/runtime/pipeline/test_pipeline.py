"""parse_pipeline: the spec's structure, static checks, describe round trips; running steps."""

from __future__ import annotations

from typing import Any

import pytest

import berth.runtime.pipeline as pipeline_api
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline import EMPTY_PIPELINE, Phase, Pipeline, StepContext, parse_pipeline

from .helpers import fails, frame, invalid, run

FULL: dict[str, Any] = {
    "pre": [
        {"type": "rename", "columns": {"client": "customer_id"}},
        {
            "type": "lookup",
            "table": "customers",
            "key": "customer_id",
            "features": ["age"],
            "on_missing": "null",
        },
        {"type": "defaults", "values": {"age": 40, "channel": "web"}},
        {"type": "scale", "columns": {"age": {"method": "minmax", "min": 18, "max": 100}}},
        {"type": "python", "ref": "cleaner:2"},
        {"type": "select", "columns": ["text", "age"]},
    ],
    "post": [
        {"type": "threshold", "class": "fraud", "threshold": 0.7, "into": "alert"},
        {"type": "top_k", "k": 3, "into": "top"},
        {"type": "map", "into": "team", "mapping": {"billing": "finance"}, "default": "other"},
        {"type": "rules", "rules": ['if text contains "fraud" then team = "fraud-desk"']},
        {"type": "python", "ref": "cleaner@production"},
        {"type": "python", "ref": "cleaner:2"},
    ],
}


def test_describe_round_trips_and_is_normalised() -> None:
    pipeline = parse_pipeline(FULL)
    described = pipeline.describe()
    assert parse_pipeline(described) == pipeline
    assert parse_pipeline(described).describe() == described
    assert described["post"][1] == {"type": "top_k", "column": "predict_proba", "k": 3, "into": "top"}
    assert described["pre"][3]["columns"]["age"] == {"method": "minmax", "min": 18.0, "max": 100.0}
    assert hash(pipeline) == hash(parse_pipeline(described))


def test_equality_tells_json_values_apart() -> None:
    def defaults(value: Any) -> Pipeline:
        return parse_pipeline({"pre": [{"type": "defaults", "values": {"a": value}}]})

    assert defaults(1) == defaults(1)
    assert defaults(1) != defaults(True)
    assert defaults(1) != defaults(1.0)
    assert defaults(1) != "pipeline"


def test_references_for_the_endpoint_layer() -> None:
    pipeline = parse_pipeline(FULL)
    assert pipeline.custom_refs() == ["cleaner:2", "cleaner@production"]
    assert pipeline.lookup_tables() == ["customers"]
    assert "lookup" in repr(pipeline)


def test_empty_pipelines() -> None:
    specs: list[dict[str, Any]] = [{}, {"pre": [], "post": []}, {"pre": None}]
    for spec in specs:
        pipeline = parse_pipeline(spec)
        assert pipeline.is_empty
        assert pipeline == EMPTY_PIPELINE
        assert pipeline.describe() == {}
    data = frame(a=[1])
    assert run(EMPTY_PIPELINE.run_pre(data, StepContext())) is data
    assert run(EMPTY_PIPELINE.run_post(data, StepContext())) is data
    assert not parse_pipeline({"post": [{"type": "top_k", "k": 1, "into": "t"}]}).is_empty


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "a pipeline must be an object"),
        (None, "a pipeline must be an object"),
        ({"pre": [], "steps": []}, "unknown pipeline keys ['steps']"),
        ({"pre": {}}, "'pre' must be a list of steps, got dict"),
        ({"post": "rules"}, "'post' must be a list of steps"),
        ({"pre": [3]}, "pre[0]: a step must be an object with a 'type', got int"),
        ({"pre": [{"columns": ["a"]}]}, "pre[0]: unknown pre-step type None"),
        (
            {"pre": [{"type": "sort"}]},
            "unknown pre-step type 'sort'; use one of defaults, features, lookup, python",
        ),
        (
            {"post": [{"type": "scale", "columns": {}}]},
            "post[0]: unknown post-step type 'scale' (it runs on the other",
        ),
        ({"pre": [{"type": "select", "columns": ["a"]}] * 65}, "at most 64"),
    ],
)
def test_structure_errors(spec: Any, message: str) -> None:
    invalid(spec, message)


def test_a_column_no_earlier_step_provides_is_refused_when_known() -> None:
    error = invalid(
        {
            "pre": [
                {"type": "select", "columns": ["a", "b"]},
                {"type": "defaults", "values": {"c": 1}},
                {"type": "rename", "columns": {"a": "x"}},
                {"type": "scale", "columns": {"c": {"method": "standard", "mean": 0, "std": 1}}},
                {"type": "lookup", "table": "t", "key": "a", "features": ["f"]},
            ]
        },
        "pre[4] (lookup): reads column 'a', which no earlier step provides (columns: ['b', 'c', 'x'])",
    )
    assert error.details == {"step": 4, "type": "lookup"}


def test_a_custom_step_makes_the_columns_unknown_again() -> None:
    parse_pipeline(
        {
            "pre": [
                {"type": "select", "columns": ["a"]},
                {"type": "python", "ref": "m:1"},
                {"type": "scale", "columns": {"z": {"method": "standard", "mean": 0, "std": 1}}},
            ]
        }
    )


def test_check_columns_with_known_inputs_and_outputs() -> None:
    pipeline = parse_pipeline(
        {
            "pre": [{"type": "scale", "columns": {"age": {"method": "standard", "mean": 0, "std": 1}}}],
            "post": [
                {"type": "map", "into": "team", "mapping": {"a": "b"}},
                {"type": "rules", "rules": ['if output.team == "b" then y = output.tier']},
            ],
        }
    )
    pipeline.check_columns()
    pipeline.check_columns(inputs=["age"], outputs=["predict", "tier"])
    invalid_check = [
        ({"inputs": ["income"]}, "pre[0] (scale): reads column 'age'"),
        ({"outputs": ["label"]}, "post[0] (map): reads column 'predict'"),
        ({"outputs": ["predict"]}, "post[1] (rules): reads column 'tier'"),
    ]
    for known, message in invalid_check:
        with pytest.raises(BerthError) as caught:
            pipeline.check_columns(**known)
        assert caught.value.code is ErrorCode.INVALID_PIPELINE
        assert message in caught.value.message


def test_a_failure_names_the_step_and_keeps_its_details() -> None:
    pipeline = parse_pipeline(
        {"post": [{"type": "map", "mapping": {"a": "b"}}, {"type": "top_k", "k": 2, "into": "t"}]}
    )
    outputs = frame(predict=["a"])
    error = fails(
        lambda: run(pipeline.run_post(outputs, StepContext())), "post[1] (top_k): no column 'predict_proba'"
    )
    assert error.details == {"column": "predict_proba", "step": 1, "type": "top_k"}


def test_an_unexpected_exception_becomes_a_step_failure() -> None:
    class Exploding:
        async def lookup(self, table: str, keys: Any) -> Any:
            raise ZeroDivisionError("division by zero")

    pipeline = parse_pipeline({"pre": [{"type": "lookup", "table": "t", "key": "k", "features": ["f"]}]})
    ctx = StepContext(entity_source=Exploding())
    error = fails(
        lambda: run(pipeline.run_pre(frame(k=[1]), ctx)), "pre[0] (lookup) failed: ZeroDivisionError"
    )
    assert error.details == {"step": 0, "type": "lookup"}
    assert isinstance(error.__cause__, ZeroDivisionError)


def test_phases_and_the_public_api() -> None:
    assert [p.value for p in Phase] == ["pre", "post"]
    assert len(set(pipeline_api.__all__)) == len(pipeline_api.__all__)
    for name in pipeline_api.__all__:
        assert getattr(pipeline_api, name) is not None
    assert isinstance(EMPTY_PIPELINE, Pipeline)


def test_errors_are_invalid_pipeline() -> None:
    assert invalid({"pre": [{"type": "sort"}]}).code is ErrorCode.INVALID_PIPELINE
