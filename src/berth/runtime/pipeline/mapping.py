"""The ``map`` post-step: a label -> value table (e.g. complaint category -> team)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.core.codecs._arrays import Array
from berth.runtime.flavors.outputs import PREDICT
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.spec import SpecReader, check_scalar, invalid_spec
from berth.runtime.pipeline.step import column_of, step_failed
from berth.runtime.pipeline.values import column_from_values, describe_kinds, key_text


@dataclass(frozen=True, slots=True)
class MapStep:
    """A label -> value table: ``{"type": "map", "into": "team", "mapping": {"billing": "finance"}}``.

    Each value of `column` is looked up in `mapping` by its string form (`key_text`: ``1`` and
    ``1.0`` are ``"1"``, ``true`` is ``"true"``); a value not in the table, or missing, gives
    `default` (null when there is none). `into` defaults to `column` (replace it).
    """

    column: str
    into: str
    mapping: Mapping[str, Any]
    default: Any = None
    kind = "map"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> MapStep:
        column = spec.text("column", PREDICT)
        into = spec.text("into", column)
        table = spec.mapping("mapping", names=False)
        values = {key: check_scalar(f"the value of {key!r}", value) for key, value in table.items()}
        default = spec.value("default", required=False)
        if default is not None:
            check_scalar("'default'", default)
        _check_one_kind([*values.values(), default])
        return cls(column, into, values, default)

    def describe(self) -> dict[str, Any]:
        spec = {"type": self.kind, "column": self.column, "into": self.into, "mapping": dict(self.mapping)}
        return spec if self.default is None else {**spec, "default": self.default}

    def columns_read(self) -> Collection[str]:
        return (self.column,)

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None if known is None else known | {self.into}

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        source = column_of(frame, self.column)
        if source.ndim != 1:
            raise step_failed(
                f"column {self.column!r} has shape {list(source.shape)}; map needs one value per row"
            )
        if source.dtype.kind in "biuf":
            distinct, positions = np.unique(source, return_inverse=True)
            column = self._mapped(distinct.tolist())
            return frame.with_columns({self.into: column[positions.reshape(-1)]})
        values = source.tolist()  # text: a dict of the distinct labels is faster than sorting them
        labels = dict.fromkeys(values)
        if any(type(v) is bool for v in labels):  # True and 1 are one dict key: keep them apart
            return frame.with_columns({self.into: self._mapped(values)})
        mapped = self._mapped(list(labels))
        table = dict(zip(labels, mapped.tolist(), strict=True))
        return frame.with_columns({self.into: np.array([table[v] for v in values], dtype=mapped.dtype)})

    def _mapped(self, labels: list[Any]) -> Array:
        mapped = [self._value(v) for v in labels]
        column = column_from_values(mapped)
        if column is None:
            raise step_failed(f"the mapping gives {describe_kinds(mapped)} to one column", column=self.into)
        return column

    def _value(self, label: Any) -> Any:
        key = key_text(label)
        return self.default if key is None else self.mapping.get(key, self.default)


def _check_one_kind(values: list[Any]) -> None:
    if column_from_values(values) is None:
        if all(type(v) is bool for v in values if v is not None):
            raise invalid_spec(
                "a mapping to booleans needs a boolean 'default' (unmapped labels would be null)"
            )
        raise invalid_spec(
            f"the mapping's values (and default) must be of one kind, got {describe_kinds(values)}"
        )
