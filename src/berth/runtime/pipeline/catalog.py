"""Step types by name, and the phases (pre/post) each may run in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from berth.runtime.pipeline.classes import ThresholdStep, TopKStep
from berth.runtime.pipeline.columns import DefaultsStep, RenameStep, SelectStep
from berth.runtime.pipeline.custom import PythonStep
from berth.runtime.pipeline.features import FeaturesStep
from berth.runtime.pipeline.lookup import LookupStep
from berth.runtime.pipeline.mapping import MapStep
from berth.runtime.pipeline.rules.step import RulesStep
from berth.runtime.pipeline.scale import ScaleStep
from berth.runtime.pipeline.spec import SpecReader
from berth.runtime.pipeline.step import Phase, Step


@dataclass(frozen=True, slots=True)
class StepType:
    build: Callable[[SpecReader], Step]
    phases: frozenset[Phase]


_PRE: Final = frozenset({Phase.PRE})
_POST: Final = frozenset({Phase.POST})
_BOTH: Final = frozenset(Phase)

STEP_TYPES: Final[dict[str, StepType]] = {
    "select": StepType(SelectStep.from_spec, _BOTH),
    "rename": StepType(RenameStep.from_spec, _BOTH),
    "defaults": StepType(DefaultsStep.from_spec, _PRE),
    "scale": StepType(ScaleStep.from_spec, _PRE),
    "lookup": StepType(LookupStep.from_spec, _PRE),
    "features": StepType(FeaturesStep.from_spec, _PRE),
    "python": StepType(PythonStep.from_spec, _BOTH),
    "threshold": StepType(ThresholdStep.from_spec, _POST),
    "top_k": StepType(TopKStep.from_spec, _POST),
    "map": StepType(MapStep.from_spec, _POST),
    "rules": StepType(RulesStep.from_spec, _POST),
}
"""Every step type; ``select``, ``rename`` and ``python`` run on either side of the model."""


def types_for(phase: Phase) -> list[str]:
    """The step types allowed in `phase`, sorted."""
    return sorted(name for name, kind in STEP_TYPES.items() if phase in kind.phases)
