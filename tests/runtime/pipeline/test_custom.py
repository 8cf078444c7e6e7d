"""The python step: the custom callable's contract and its validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from berth.core.errors import ErrorCode
from berth.runtime.pipeline import Frame, InMemoryCustomSteps, StepContext, parse_pipeline

from .helpers import fails, frame, invalid, pre, run

STEP = [{"type": "python", "ref": "cleaner:3"}]


def context(function: object) -> StepContext:
    return StepContext(custom_steps=InMemoryCustomSteps({"cleaner:3": function}))  # type: ignore[dict-item]


def test_a_custom_step_receives_the_1d_columns_and_replaces_them() -> None:
    seen: list[list[str]] = []

    def clean(data: pd.DataFrame) -> pd.DataFrame:
        seen.append(list(data.columns))
        return pd.DataFrame({"text": data["text"].str.lower(), "length": data["text"].str.len()})

    data = Frame(
        {"text": np.array(["Hello", "FRAUD"], dtype=object), "x": np.zeros((2, 3)), "id": np.array([1, 2])}
    )
    result = pre(STEP, data, context(clean))
    assert seen == [["text", "id"]]
    assert result.names == ("x", "text", "length")
    assert result["text"].tolist() == ["hello", "fraud"]
    assert result["text"].dtype == object
    assert result["length"].tolist() == [5, 5]


def test_a_coroutine_function_is_awaited() -> None:
    async def double(data: pd.DataFrame) -> pd.DataFrame:
        return data * 2

    assert pre(STEP, frame(a=[1, 2]), context(double))["a"].tolist() == [2, 4]


def test_a_custom_step_runs_after_the_model_too() -> None:
    def flag(data: pd.DataFrame) -> pd.DataFrame:
        return data.assign(flag=data["predict"] == "fraud")

    pipeline = parse_pipeline({"post": STEP})
    ctx = context(flag).for_post(Frame({}, 2), None)
    answer = run(pipeline.run_post(frame(predict=["fraud", "billing"]), ctx))
    assert answer["flag"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda data: data.iloc[:1], "returned 1 rows for 2"),
        (lambda data: [1, 2], "returned a list, not a pandas DataFrame"),
        (lambda data: pd.concat([data, data], axis=1), "duplicate columns"),
    ],
)
def test_what_a_custom_step_returns_is_checked(answer: object, message: str) -> None:
    fails(lambda: pre(STEP, frame(a=[1, 2]), context(answer)), "pre[0] (python)", message)


def test_an_exception_in_a_custom_step_is_a_step_failure() -> None:
    def broken(data: pd.DataFrame) -> pd.DataFrame:
        raise KeyError("oops")

    fails(lambda: pre(STEP, frame(a=[1]), context(broken)), "pre[0] (python) failed: KeyError")


def test_a_missing_custom_step_is_a_step_failure() -> None:
    error = fails(lambda: pre(STEP, frame(a=[1]), StepContext()), "cleaner:3")
    assert error.details["cause"] == ErrorCode.MODEL_NOT_FOUND.value


@pytest.mark.parametrize(
    "ref", ["cleaner", "cleaner:", "cleaner:0", "cleaner:x", ":3", "a b:1", "m@1alias", "m@"]
)
def test_bad_refs_are_refused(ref: str) -> None:
    invalid({"pre": [{"type": "python", "ref": ref}]}, "pre[0] (python)", "'ref'")


@pytest.mark.parametrize("ref", ["cleaner:3", "cleaner@production", "team.cleaner-v2:12"])
def test_good_refs_are_kept(ref: str) -> None:
    assert parse_pipeline({"pre": [{"type": "python", "ref": ref}]}).custom_refs() == [ref]
