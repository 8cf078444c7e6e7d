"""An endpoint's pipeline: pre-steps on the inputs, post-steps on the outputs; parsed from JSON.

`parse_pipeline` refuses an invalid pipeline with INVALID_PIPELINE naming the step
(``pre[1] (lookup): missing key 'table'``). Running a step raises PIPELINE_STEP_FAILED naming
the step, or ENTITY_NOT_FOUND from a ``lookup``; no other exception leaves `run_pre`/`run_post`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import orjson

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline.catalog import STEP_TYPES, types_for
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.custom import PythonStep
from berth.runtime.pipeline.features import FeaturesStep
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.lookup import LookupStep
from berth.runtime.pipeline.spec import SpecReader, invalid_spec
from berth.runtime.pipeline.step import Phase, Step

MAX_STEPS: Final = 64
"""The most steps a phase may have."""
_PASSED_THROUGH: Final = frozenset(
    {ErrorCode.PIPELINE_STEP_FAILED, ErrorCode.ENTITY_NOT_FOUND, ErrorCode.FEATURES_UNAVAILABLE}
)


class Pipeline:
    """Pre-steps and post-steps, immutable; build it with `parse_pipeline`."""

    __slots__ = ("post", "pre")

    def __init__(self, pre: Sequence[Step] = (), post: Sequence[Step] = ()) -> None:
        self.pre: tuple[Step, ...] = tuple(pre)
        self.post: tuple[Step, ...] = tuple(post)

    @property
    def is_empty(self) -> bool:
        return not self.pre and not self.post

    def describe(self) -> dict[str, Any]:
        """The pipeline's spec, normalised: `parse_pipeline` of it gives an equal pipeline."""
        spec: dict[str, Any] = {}
        if self.pre:
            spec["pre"] = [step.describe() for step in self.pre]
        if self.post:
            spec["post"] = [step.describe() for step in self.post]
        return spec

    def custom_refs(self) -> list[str]:
        """The custom steps' packages (``model:version``/``model@alias``), in order, without repeats."""
        refs = [s.ref for s in (*self.pre, *self.post) if isinstance(s, PythonStep)]
        return list(dict.fromkeys(refs))

    def lookup_tables(self) -> list[str]:
        """The entity tables the lookups read, in order, without repeats."""
        return list(dict.fromkeys(s.table for s in self.pre if isinstance(s, LookupStep)))

    def feature_views(self) -> list[str]:
        """The feature views the `features` steps read, in order, without repeats."""
        names = [n for s in self.pre if isinstance(s, FeaturesStep) for n in s.view_names()]
        return list(dict.fromkeys(names))

    def check_columns(
        self, inputs: Collection[str] | None = None, outputs: Collection[str] | None = None
    ) -> None:
        """Check statically that each step reads columns an earlier step or the caller provides.

        `inputs`/`outputs`: the request's and the model's columns when known (None: any). Raises
        INVALID_PIPELINE naming the step. `parse_pipeline` runs it with both unknown.
        """
        _check_flow(Phase.PRE, self.pre, None if inputs is None else frozenset(inputs))
        _check_flow(Phase.POST, self.post, None if outputs is None else frozenset(outputs))

    async def run_pre(self, frame: Frame, ctx: StepContext) -> Frame:
        """The request's inputs after the pre-steps."""
        for index, step in enumerate(self.pre):
            frame = await _apply(Phase.PRE, index, step, frame, ctx)
        return frame

    async def run_post(self, outputs: Frame, ctx: StepContext) -> Frame:
        """The model's outputs after the post-steps (`ctx` with `inputs` and `classes` set)."""
        for index, step in enumerate(self.post):
            outputs = await _apply(Phase.POST, index, step, outputs, ctx)
        return outputs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and self._canonical() == other._canonical()

    def __hash__(self) -> int:
        return hash(self._canonical())

    def _canonical(self) -> bytes:
        # JSON text, not dicts: in Python 1 == 1.0 == True, in a pipeline they are different values
        return orjson.dumps(self.describe(), option=orjson.OPT_SORT_KEYS)

    def __repr__(self) -> str:
        pre = ", ".join(s.kind for s in self.pre)
        post = ", ".join(s.kind for s in self.post)
        return f"Pipeline(pre=[{pre}], post=[{post}])"


EMPTY_PIPELINE: Final = Pipeline()


def parse_pipeline(spec: Any) -> Pipeline:
    """The pipeline of a JSON spec ``{"pre": [...], "post": [...]}`` (both optional).

    Any problem (not an object, unknown keys, unknown step types, a step in the wrong phase, a
    step's keys or values, a column no earlier step provides when that is known) is INVALID_PIPELINE.
    """
    if not isinstance(spec, Mapping):
        raise invalid_spec(
            f"a pipeline must be an object with 'pre' and/or 'post' step lists, got {_kind(spec)}"
        )
    extra = sorted(str(k) for k in spec if k not in ("pre", "post"))
    if extra:
        raise invalid_spec(f"unknown pipeline keys {extra}; a pipeline has 'pre' and 'post' step lists")
    pipeline = Pipeline(_steps(Phase.PRE, spec.get("pre")), _steps(Phase.POST, spec.get("post")))
    pipeline.check_columns()
    return pipeline


def _steps(phase: Phase, specs: Any) -> list[Step]:
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise invalid_spec(f"{phase.value!r} must be a list of steps, got {_kind(specs)}")
    if len(specs) > MAX_STEPS:
        raise invalid_spec(f"{phase.value!r} has {len(specs)} steps; at most {MAX_STEPS}")
    return [_step(phase, index, spec) for index, spec in enumerate(specs)]


def _step(phase: Phase, index: int, spec: Any) -> Step:
    where = f"{phase.value}[{index}]"
    if not isinstance(spec, Mapping):
        raise invalid_spec(f"{where}: a step must be an object with a 'type', got {_kind(spec)}", step=index)
    kind = spec.get("type")
    step_type = STEP_TYPES.get(kind) if isinstance(kind, str) else None
    if step_type is None or phase not in step_type.phases:
        allowed = ", ".join(types_for(phase))
        other = " (it runs on the other side of the model)" if step_type is not None else ""
        raise invalid_spec(
            f"{where}: unknown {phase.value}-step type {kind!r:.60}{other}; use one of {allowed}", step=index
        )
    where = f"{where} ({kind})"
    reader = SpecReader(spec)
    try:
        step = step_type.build(reader)
        reader.done()
    except BerthError as exc:
        details = {**exc.details, "step": index, "type": kind}
        raise BerthError(exc.code, f"{where}: {exc.message}", **details) from None
    return step


def _check_flow(phase: Phase, steps: Sequence[Step], known: frozenset[str] | None) -> None:
    for index, step in enumerate(steps):
        where = f"{phase.value}[{index}] ({step.kind})"
        if known is not None:
            missing = [c for c in step.columns_read() if c not in known]
            if missing:
                raise invalid_spec(
                    f"{where}: reads column {missing[0]!r}, which no earlier step provides"
                    f" (columns: {sorted(known)})",
                    step=index,
                    type=step.kind,
                )
        try:
            known = step.columns_after(known)
        except BerthError as exc:
            raise invalid_spec(f"{where}: {exc.message}", step=index, type=step.kind) from None


async def _apply(phase: Phase, index: int, step: Step, frame: Frame, ctx: StepContext) -> Frame:
    with ctx.tracing.span("berth.step") as span:
        if span is not None:
            span.set_attributes(
                {
                    "berth.step": f"{phase.value}[{index}]",
                    "berth.step_type": step.kind,
                    "berth.rows": frame.rows,
                }
            )
        return await _applied(phase, index, step, frame, ctx)


async def _applied(phase: Phase, index: int, step: Step, frame: Frame, ctx: StepContext) -> Frame:
    try:
        return await step.apply(frame, ctx)
    except BerthError as exc:
        code = exc.code if exc.code in _PASSED_THROUGH else ErrorCode.PIPELINE_STEP_FAILED
        details = {**exc.details, "step": index, "type": step.kind}
        if code is not exc.code:
            details["cause"] = exc.code.value
        raise BerthError(code, f"{phase.value}[{index}] ({step.kind}): {exc.message}", **details) from exc
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise BerthError(
            ErrorCode.PIPELINE_STEP_FAILED,
            f"{phase.value}[{index}] ({step.kind}) failed: {problem:.300}",
            step=index,
            type=step.kind,
        ) from exc


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
