"""The ``lookup`` pre-step: features of an entity (customer, account) added to each row."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from berth.core.codecs._arrays import Array
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.spec import SpecReader, invalid_spec
from berth.runtime.pipeline.step import column_of, step_failed
from berth.runtime.pipeline.values import column_from_values, describe_kinds, key_text, plain_value

ON_MISSING: Final = ("error", "null")


@dataclass(frozen=True, slots=True)
class LookupStep:
    """Features by key: ``{"type": "lookup", "table": "customers", "key": "id", "features": ["age"]}``.

    Every row's key (its string form, `key_text`) is looked up in one call to the entity source;
    the features become columns (replacing same-named ones). A key that is not found is
    ENTITY_NOT_FOUND (``on_missing: "error"``, the default) or gives null features (``"null"``);
    a found entity without a feature gives null too. Null is NaN in a numeric column, None in text.
    """

    table: str
    key: str
    features: tuple[str, ...]
    on_missing: str = "error"
    kind = "lookup"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> LookupStep:
        table, key, features = spec.text("table"), spec.text("key"), spec.names("features")
        on_missing = spec.text("on_missing", "error")
        if on_missing not in ON_MISSING:
            raise invalid_spec(f"'on_missing' must be 'error' or 'null', got {on_missing!r}")
        return cls(table, key, features, on_missing)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "table": self.table,
            "key": self.key,
            "features": list(self.features),
            "on_missing": self.on_missing,
        }

    def columns_read(self) -> Collection[str]:
        return (self.key,)

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None if known is None else known | frozenset(self.features)

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        keys = _keys(self.key, column_of(frame, self.key))
        wanted = list(dict.fromkeys(k for k in keys if k is not None))
        found: Mapping[str, Mapping[str, Any]] = {}
        if wanted:
            with ctx.tracing.span("berth.lookup") as span:
                if span is not None:
                    span.set_attributes({"berth.table": self.table, "berth.keys": len(wanted)})
                found = await ctx.entity_source.lookup(self.table, wanted)
        if self.on_missing == "error":
            self._check_found(keys, found)
        rows = [found.get(k) if k is not None else None for k in keys]
        return frame.with_columns({name: self._feature(name, rows) for name in self.features})

    def _check_found(self, keys: list[str | None], found: Mapping[str, Any]) -> None:
        missing = [k for k in keys if k is None or k not in found]
        if missing:
            first = "a missing key" if missing[0] is None else f"key {missing[0]!r}"
            raise BerthError(
                ErrorCode.ENTITY_NOT_FOUND,
                f"{first} is not in table {self.table!r} ({len(missing)} of {len(keys)} rows not found)",
                table=self.table,
                key=missing[0],
            )

    def _feature(self, name: str, rows: list[Mapping[str, Any] | None]) -> Array:
        values = [None if row is None else plain_value(row.get(name)) for row in rows]
        column = column_from_values(values)
        if column is None:
            gaps = " and missing values" if None in values else ""
            raise step_failed(
                f"feature {name!r} of table {self.table!r} cannot be one column: it holds "
                f"{describe_kinds(values)}{gaps}",
                feature=name,
            )
        return column


def _keys(name: str, column: Array) -> list[str | None]:
    if column.ndim != 1 or column.dtype.kind not in "iuOUST":
        raise step_failed(
            f"the key column {name!r} must be text or integers, one per row; it is {column.dtype}"
            f"{list(column.shape)}",
            column=name,
        )
    if column.dtype.kind in "iu":
        return [str(v) for v in column.tolist()]
    keys = [key_text(plain_value(v)) for v in column.tolist()]
    return [None if k == "" else k for k in keys]
