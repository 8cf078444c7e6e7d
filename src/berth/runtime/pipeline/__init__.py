"""Endpoint pipelines: declarative steps on a request's inputs (pre) and a model's outputs (post).

The public API; the modules behind it are implementation details. See docs/pipelines.md.
"""

from berth.runtime.pipeline.context import (
    CustomFunction,
    CustomStepSource,
    EntitySource,
    InMemoryCustomSteps,
    InMemoryEntitySource,
    StepContext,
)
from berth.runtime.pipeline.frame import Frame, frame_from_tensors, frame_to_tensors
from berth.runtime.pipeline.pipeline import EMPTY_PIPELINE, Pipeline, parse_pipeline
from berth.runtime.pipeline.step import Phase, Step

__all__ = [
    "EMPTY_PIPELINE",
    "CustomFunction",
    "CustomStepSource",
    "EntitySource",
    "Frame",
    "InMemoryCustomSteps",
    "InMemoryEntitySource",
    "Phase",
    "Pipeline",
    "Step",
    "StepContext",
    "frame_from_tensors",
    "frame_to_tensors",
    "parse_pipeline",
]
