"""The ``rules`` post-step: business rules in order, on every row (see docs/pipelines.md)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from berth.core.codecs._arrays import Array
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.rules.evaluate import Compiled, Env, compile_condition, compile_expr, field_key
from berth.runtime.pipeline.rules.operators import RuleFailure
from berth.runtime.pipeline.rules.parser import parse_rule
from berth.runtime.pipeline.rules.syntax import Field, Rule, Scope, fields_of, targets_of
from berth.runtime.pipeline.spec import SpecReader, invalid_spec
from berth.runtime.pipeline.step import step_failed
from berth.runtime.pipeline.values import column_from_values, describe_kinds, row_values

MAX_RULES: Final = 100


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A parsed rule with its condition and assignments compiled."""

    rule: Rule
    condition: Callable[[Env, int], bool]
    then: tuple[tuple[str, Compiled], ...]
    otherwise: tuple[tuple[str, Compiled], ...]
    fields: tuple[Field, ...]
    targets: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str, index: int) -> CompiledRule:
        rule = parse_rule(text, index)
        return cls(
            rule,
            compile_condition(rule.condition),
            tuple((a.target, compile_expr(a.value)) for a in rule.then),
            tuple((a.target, compile_expr(a.value)) for a in rule.otherwise),
            tuple(dict.fromkeys(fields_of(rule))),
            tuple(targets_of(rule)),
        )


@dataclass(frozen=True, slots=True)
class RulesStep:
    """``{"type": "rules", "rules": ["if text contains \\"fraud\\" then team = \\"fraud-desk\\""]}``."""

    rules: tuple[CompiledRule, ...] = field(repr=False)
    kind = "rules"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> RulesStep:
        texts = spec.value("rules")
        if not isinstance(texts, list) or not texts or len(texts) > MAX_RULES:
            raise invalid_spec(f"'rules' must be a list of 1 to {MAX_RULES} rules (strings)")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise invalid_spec(f"rule {i} must be a string, got {type(text).__name__}", rule=i)
        return cls(tuple(CompiledRule.from_text(text, i) for i, text in enumerate(texts)))

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "rules": [r.rule.text for r in self.rules]}

    def columns_read(self) -> Collection[str]:
        assigned: set[str] = set()
        read: list[str] = []
        for rule in self.rules:
            assigned.update(rule.targets)  # a rule's targets exist (null) before it reads them
            read += [f.name for f in rule.fields if f.scope is Scope.OUTPUT and f.name not in assigned]
        return tuple(dict.fromkeys(read))

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None if known is None else known | {t for r in self.rules for t in r.targets}

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        if ctx.inputs is not None and ctx.inputs.rows != frame.rows:
            raise step_failed(f"the inputs have {ctx.inputs.rows} rows and the outputs {frame.rows}")
        run = _Run(frame, ctx.inputs)
        for index, rule in enumerate(self.rules):
            run.rule(index, rule)
        return frame.with_columns(run.columns())


class _Run:
    """The state of one application of a rules step: output columns being assigned, values read."""

    def __init__(self, outputs: Frame, inputs: Frame | None) -> None:
        self._outputs = outputs
        self._inputs = inputs
        self._assigned: dict[str, list[Any]] = {}
        self._read: dict[tuple[str, str], list[Any]] = {}

    def rule(self, index: int, rule: CompiledRule) -> None:
        for target in rule.targets:
            self._target(index, target)
        env = {field_key(f): self._field(index, f) for f in rule.fields}
        assigned = self._assigned
        row = 0
        try:
            for row in range(self._outputs.rows):
                for name, value in rule.then if rule.condition(env, row) else rule.otherwise:
                    assigned[name][row] = value(env, row)
        except RuleFailure as exc:
            raise step_failed(f"rule {index}, row {row}: {exc}", rule=index, row=row) from None
        except RecursionError:  # pragma: no cover - the parser bounds the depth
            raise step_failed(f"rule {index} is nested too deeply", rule=index) from None

    def columns(self) -> dict[str, Array]:
        columns: dict[str, Array] = {}
        for name, values in self._assigned.items():
            column = column_from_values(values)
            if column is None:
                gaps = " and null (add an 'else' for the rows no rule assigns)" if None in values else ""
                raise step_failed(
                    f"the rules give column {name!r} {describe_kinds(values)}{gaps}: a column holds one kind",
                    column=name,
                )
            columns[name] = column
        return columns

    def _target(self, index: int, name: str) -> None:
        if name in self._assigned:
            return
        if name in self._outputs:
            column = self._outputs[name]
            if column.ndim != 1:
                raise step_failed(f"rule {index} assigns {name!r}, a column with {column.ndim} dimensions")
            self._assigned[name] = row_values(column)
        else:
            self._assigned[name] = [None] * self._outputs.rows

    def _field(self, index: int, field: Field) -> list[Any]:
        name = field.name
        if field.scope is not Scope.INPUT:
            if name in self._assigned:
                return self._assigned[name]
            if name in self._outputs:
                return self._values("output", self._outputs, name)
        if field.scope is not Scope.OUTPUT and self._inputs is not None and name in self._inputs:
            return self._values("input", self._inputs, name)
        where = {Scope.ANY: "output or input", Scope.INPUT: "input", Scope.OUTPUT: "output"}[field.scope]
        outputs = sorted({*self._outputs.names, *self._assigned})
        inputs = sorted(self._inputs.names) if self._inputs is not None else []
        raise step_failed(
            f"rule {index}: unknown {where} field {name!r} (outputs: {outputs}; inputs: {inputs})",
            rule=index,
            field=name,
        )

    def _values(self, side: str, frame: Mapping[str, Array], name: str) -> list[Any]:
        key = (side, name)
        if key not in self._read:
            self._read[key] = row_values(frame[name])
        return self._read[key]
