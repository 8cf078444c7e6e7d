"""Properties: arbitrary rules and specs fail only with INVALID_PIPELINE, quickly; runs only with
PIPELINE_STEP_FAILED; whatever parses round-trips through describe."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline import Frame, Pipeline, StepContext, parse_pipeline
from berth.runtime.pipeline.catalog import STEP_TYPES
from berth.runtime.pipeline.rules.parser import MAX_RULE_LENGTH, parse_rule

from .helpers import run

PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

WORDS = [
    "if", "then", "else", "and", "or", "not", "in", "is", "null", "true", "false", "contains",
    "startswith", "endswith", "input", "output", "x", "text", "predict", "y", "lower", "max", "len",
    "round", "coalesce", "abs", "==", "!=", "<", "<=", ">", ">=", "=", "(", ")", "[", "]", ",", ".",
    "-", '"fraud"', "'a'", "1", "2.5", "1e3", '"', "\\", "#",
]  # fmt: skip
ATOMS = [
    "x",
    "text",
    "predict",
    "y",
    "predict_proba",
    "nope",
    "input.text",
    "output.x",
    "1",
    "2.5",
    '"fraud"',
]
ATOMS += ["true", "null", "-1", "[]"]
expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(
            inner, st.sampled_from(["and", "or", "==", "!=", "<", ">=", "contains", "endswith"]), inner
        ).map(" ".join),
        inner.map("not {}".format),
        inner.map("({})".format),
        inner.map("{} is null".format),
        inner.map("-{}".format),
        st.tuples(inner, inner).map(lambda ab: f"{ab[0]} in [{ab[1]}, 1]"),
        st.tuples(st.sampled_from(["lower", "len", "abs", "upper", "trim"]), inner).map(
            lambda fa: f"{fa[0]}({fa[1]})"
        ),
        st.tuples(st.sampled_from(["max", "min", "coalesce", "round"]), inner, inner).map(
            lambda fab: f"{fab[0]}({fab[1]}, {fab[2]})"
        ),
    ),
    max_leaves=8,
)
rules = st.builds(
    lambda cond, target, value, otherwise: f"if {cond} then {target} = {value}" + otherwise,
    expressions,
    st.sampled_from(["y", "team", "predict", "output.z", "x", "predict_proba"]),
    expressions,
    st.sampled_from(["", " else team = 1", ' else y = "no", z = 2']),
)


def _mutated(text_and_cut: tuple[str, int, int]) -> str:
    text, start, length = text_and_cut
    return text[:start] + text[start + length :]


rule_like = (
    rules
    | st.tuples(rules, st.integers(0, 60), st.integers(1, 4)).map(_mutated)
    | st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join)
)
any_text = st.text(max_size=300)


def error_of(action: Callable[[], object]) -> BerthError | None:
    """The BerthError `action` raises, or None (any other exception propagates)."""
    try:
        action()
    except BerthError as exc:
        return exc
    return None


def parses_or_is_invalid(text: str) -> bool:
    error = error_of(lambda: parse_rule(text, 0))
    if error is None:
        return True
    assert error.code is ErrorCode.INVALID_PIPELINE
    assert error.message.startswith("rule 0, column ")
    return False


@PROPERTY
@given(any_text | rule_like)
def test_any_rule_text_parses_or_is_invalid_pipeline(text: str) -> None:
    parses_or_is_invalid(text)


ROWS = 3
OUTPUTS = Frame(
    {
        "predict": np.array(["fraud", "billing", None], dtype=object),
        "x": np.array([1.0, np.nan, -2.0]),
        "predict_proba": np.array([[0.2, 0.8], [0.5, 0.5], [np.nan, 1.0]]),
    }
)
INPUTS = Frame({"text": np.array(["A fraud", "", "ok"], dtype=object), "y": np.array([True, False, True])})


@PROPERTY
@given(rule_like)
def test_a_rule_that_parses_runs_or_fails_as_a_step(text: str) -> None:
    if not parses_or_is_invalid(text):
        return
    pipeline = parse_pipeline({"post": [{"type": "rules", "rules": [text]}]})
    ctx = StepContext().for_post(INPUTS, ["a", "b"])
    rows: list[int] = []
    error = error_of(lambda: rows.append(run(pipeline.run_post(OUTPUTS, ctx)).rows))
    assert rows == [ROWS] if error is None else error.code is ErrorCode.PIPELINE_STEP_FAILED, error


@pytest.mark.parametrize(
    "text",
    [
        "(" * MAX_RULE_LENGTH,
        "not " * (MAX_RULE_LENGTH // 4),
        "- " * (MAX_RULE_LENGTH // 2),
        "if " + "x or " * ((MAX_RULE_LENGTH - 20) // 5) + "x then y = 1",
        "if x in [" + "1," * ((MAX_RULE_LENGTH - 30) // 2) + "1] then y = 1",
        '"' + "\\n" * (MAX_RULE_LENGTH // 2 - 1),
        "if max(" * (MAX_RULE_LENGTH // 7),
    ],
)
def test_worst_case_rules_are_quick(text: str) -> None:
    start = time.perf_counter()
    parses_or_is_invalid(text[:MAX_RULE_LENGTH])
    assert time.perf_counter() - start < 1.0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = [
    "type", "columns", "values", "table", "key", "features", "on_missing", "ref", "column", "class",
    "class_index", "threshold", "into", "k", "mapping", "default", "rules", "method", "mean", "std",
    "min", "max",
]  # fmt: skip
field_values = (
    json_values
    | st.sampled_from(
        ["a", "b", "predict", "predict_proba", "error", "null", "standard", "minmax", "m:1", "m@prod"]
    )
    | st.lists(st.sampled_from(["a", "b", "if a then b = 1"]), max_size=3)
    | st.dictionaries(
        st.sampled_from(["a", "b"]), st.sampled_from(["c", "a", 1, 0.5]) | json_values, max_size=3
    )
    | st.fixed_dictionaries(
        {"method": st.sampled_from(["standard", "minmax"])}, optional={"mean": json_values}
    )
)
GOOD_STEPS: list[dict[str, Any]] = [
    {"type": "select", "columns": ["a", "b"]},
    {"type": "rename", "columns": {"a": "c"}},
    {"type": "defaults", "values": {"a": 1, "z": "x"}},
    {"type": "scale", "columns": {"a": {"method": "standard", "mean": 1, "std": 2}}},
    {"type": "scale", "columns": {"b": {"method": "minmax", "min": 0, "max": 2}}},
    {"type": "lookup", "table": "t", "key": "a", "features": ["f"], "on_missing": "null"},
    {"type": "python", "ref": "m:1"},
    {"type": "threshold", "threshold": 0.5, "into": "ok", "class": "a"},
    {"type": "top_k", "k": 2, "into": "top"},
    {"type": "map", "mapping": {"a": "b"}, "default": "c"},
    {"type": "rules", "rules": ["if a == 1 then b = 2"]},
]


def _changed(step_key_value: tuple[dict[str, Any], str, Any, bool]) -> dict[str, Any]:
    step, key, value, drop = step_key_value
    changed = dict(step)
    if drop:
        changed.pop(key, None)
    else:
        changed[key] = value
    return changed


good_steps = st.sampled_from(GOOD_STEPS)
step_specs = (
    good_steps
    | st.tuples(good_steps, st.sampled_from(KEYS), field_values, st.booleans()).map(_changed)
    | st.builds(
        lambda kind, extra: {"type": kind, **extra},
        st.sampled_from([*STEP_TYPES, "nope"]),
        st.dictionaries(st.sampled_from(KEYS[1:]), field_values, max_size=5),
    )
)
pipeline_specs = json_values | st.fixed_dictionaries(
    {}, optional={"pre": st.lists(step_specs, max_size=4), "post": st.lists(step_specs, max_size=4)}
)


@PROPERTY
@given(pipeline_specs)
def test_any_json_parses_or_is_invalid_pipeline(spec: Any) -> None:
    parsed: list[Pipeline] = []
    error = error_of(lambda: parsed.append(parse_pipeline(spec)))
    if error is not None:
        assert error.code is ErrorCode.INVALID_PIPELINE
    else:
        assert parse_pipeline(parsed[0].describe()) == parsed[0]
