"""Pre-steps that shape the columns: ``select``, ``rename`` and ``defaults``."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.core.bounded import duplicates
from berth.core.codecs._arrays import Array
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.spec import SpecReader, check_name, check_scalar, invalid_spec
from berth.runtime.pipeline.step import missing_column, step_failed
from berth.runtime.pipeline.values import column_from_values, describe_kinds, row_values


@dataclass(frozen=True, slots=True)
class SelectStep:
    """Keeps only `columns`, in that order: ``{"type": "select", "columns": ["a", "b"]}``."""

    columns: tuple[str, ...]
    kind = "select"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> SelectStep:
        return cls(spec.names("columns"))

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "columns": list(self.columns)}

    def columns_read(self) -> Collection[str]:
        return self.columns

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return frozenset(self.columns)

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        for name in self.columns:
            if name not in frame:
                raise missing_column(frame, name)
        return frame.select(self.columns)


@dataclass(frozen=True, slots=True)
class RenameStep:
    """Renames columns: ``{"type": "rename", "columns": {"old": "new"}}``.

    Two columns may not get one name, and a new name may not be a column that stays (statically
    when the columns are known, else when it runs). Swapping two names is allowed.
    """

    columns: Mapping[str, str]
    kind = "rename"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> RenameStep:
        mapping = spec.mapping("columns")
        renames = {old: check_name(f"the new name of {old!r}", new) for old, new in mapping.items()}
        targets = list(renames.values())
        clashes = sorted(duplicates(targets))
        if clashes:
            raise invalid_spec(f"two columns would be renamed to {clashes[0]!r}")
        return cls(renames)

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "columns": dict(self.columns)}

    def columns_read(self) -> Collection[str]:
        return tuple(self.columns)

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        if known is None:
            return None
        clash = self._clash(known)
        if clash:
            raise invalid_spec(clash)
        return frozenset(self.columns.get(name, name) for name in known)

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        for name in self.columns:
            if name not in frame:
                raise missing_column(frame, name)
        clash = self._clash(frame.names)
        if clash:
            raise step_failed(clash)
        return frame.rename(self.columns)

    def _clash(self, names: Collection[str]) -> str | None:
        """What goes wrong renaming among `names`: a new name that is a column staying as it is."""
        staying = set(names) - set(self.columns)
        for old, new in self.columns.items():
            if new in staying:
                return f"renaming {old!r} to {new!r} would overwrite column {new!r}"
        return None


@dataclass(frozen=True, slots=True)
class DefaultsStep:
    """Fills missing values: ``{"type": "defaults", "values": {"country": "BE", "age": 40}}``.

    An absent column is added, filled with its value; in a present one, None and NaN become the
    value (empty strings are values, not missing). A number fills numbers, text fills text.
    """

    values: Mapping[str, Any]
    kind = "defaults"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> DefaultsStep:
        values = spec.mapping("values")
        return cls({name: check_scalar(f"the default of {name!r}", v) for name, v in values.items()})

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "values": dict(self.values)}

    def columns_read(self) -> Collection[str]:
        return ()

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None if known is None else known | frozenset(self.values)

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        filled: dict[str, Array] = {}
        for name, value in self.values.items():
            if name in frame:
                column = _fill(name, frame[name], value)
                if column is not None:
                    filled[name] = column
            else:
                filled[name] = _constant(frame.rows, value)
        return frame.with_columns(filled) if filled else frame


def _constant(rows: int, value: Any) -> Array:
    if isinstance(value, str):
        return np.full(rows, value, dtype=object)
    return np.full(rows, value)


def _fill(name: str, column: Array, value: Any) -> Array | None:
    """The column with its missing values replaced by `value`; None when it has none."""
    kind = column.dtype.kind
    if kind == "f":
        missing = np.isnan(column)
        if not missing.any():
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return np.where(missing, value, column)
        if missing.all() and column.ndim == 1:
            return _constant(len(column), value)
        raise step_failed(
            f"column {name!r} holds numbers; its default {value!r} is not a number", column=name
        )
    if kind != "O" or column.ndim != 1:
        return None  # booleans, integers and fixed-width strings have no missing values
    values = row_values(column)
    if all(v is not None for v in values):
        return None
    result = column_from_values([value if v is None else v for v in values])
    if result is None:
        raise step_failed(
            f"column {name!r} holds {describe_kinds(values)}; its default {value!r} is of another kind",
            column=name,
        )
    return result
