"""Helpers for the pipeline tests: frames from lists, running steps and pipelines synchronously."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline import Frame, StepContext, parse_pipeline

Array = np.ndarray[Any, Any]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def column(values: Sequence[Any] | Array) -> Array:
    """An array as a codec makes it: strings (and None among them) as an object array."""
    if isinstance(values, np.ndarray):
        return values
    if any(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    return np.array(values)


def frame(**columns: Sequence[Any] | Array) -> Frame:
    return Frame({name: column(values) for name, values in columns.items()})


def pre(steps: list[dict[str, Any]], data: Frame, ctx: StepContext | None = None) -> Frame:
    pipeline = parse_pipeline({"pre": steps})
    result: Frame = run(pipeline.run_pre(data, ctx or StepContext()))
    return result


def post(
    steps: list[dict[str, Any]],
    outputs: Frame,
    inputs: Frame | None = None,
    classes: Sequence[Any] | None = None,
) -> Frame:
    pipeline = parse_pipeline({"post": steps})
    ctx = StepContext().for_post(inputs if inputs is not None else Frame({}, outputs.rows), classes)
    result: Frame = run(pipeline.run_post(outputs, ctx))
    return result


def invalid(spec: Any, *fragments: str) -> BerthError:
    """parse_pipeline(spec) fails with INVALID_PIPELINE whose message holds every fragment."""
    with pytest.raises(BerthError) as caught:
        parse_pipeline(spec)
    assert caught.value.code is ErrorCode.INVALID_PIPELINE, caught.value
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message
    return caught.value


def fails(action: Any, *fragments: str, code: ErrorCode = ErrorCode.PIPELINE_STEP_FAILED) -> BerthError:
    """Running `action` (a zero-argument callable) fails with `code` whose message holds the fragments."""
    with pytest.raises(BerthError) as caught:
        action()
    assert caught.value.code is code, caught.value
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message
    return caught.value


def as_lists(data: Mapping[str, Array]) -> dict[str, list[Any]]:
    return {name: array.tolist() for name, array in data.items()}
