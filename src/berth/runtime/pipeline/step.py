"""The contract every pipeline step keeps, and the errors steps raise."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Any, Protocol

from berth.core.codecs._arrays import Array
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame


class Phase(StrEnum):
    """Where a step runs: on the request's inputs before the model, or on its outputs after it."""

    PRE = "pre"
    POST = "post"


class Step(Protocol):
    """A step of an endpoint's pipeline, built from its JSON spec by `parse_pipeline`."""

    kind: str
    """The step's ``type`` in its spec."""

    def describe(self) -> dict[str, Any]:
        """The step's spec, normalised (every default written out); `parse_pipeline` reads it back."""
        ...

    def columns_read(self) -> Collection[str]:
        """Columns of its frame the step needs (checked statically where the columns are known)."""
        ...

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        """The frame's columns after the step, given those before (None: not known statically)."""
        ...

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        """The frame after the step; a failure is a BerthError (PIPELINE_STEP_FAILED or ENTITY_NOT_FOUND)."""
        ...


def step_failed(problem: str, **details: Any) -> BerthError:
    """A PIPELINE_STEP_FAILED error; the pipeline adds which step it was."""
    return BerthError(ErrorCode.PIPELINE_STEP_FAILED, problem, **details)


def missing_column(frame: Frame, name: str) -> BerthError:
    """The error for a column the frame lacks, listing those it has."""
    return step_failed(f"no column {name!r}; the frame has {list(frame.names)}", column=name)


def column_of(frame: Frame, name: str) -> Array:
    """The column `name` of `frame`, or the missing-column error."""
    try:
        return frame[name]
    except KeyError:
        raise missing_column(frame, name) from None
