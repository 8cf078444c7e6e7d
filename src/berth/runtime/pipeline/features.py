"""The ``features`` pre-step: features of feature views (Redis, Feast, the embedded table) by key.

::

    {"type": "features", "views": [
        {"view": "customer_profile", "key": "customer_id", "features": ["age", "campaign"]},
        {"view": "account_risk", "key": "account_id"}
    ]}

Every view of the step is read at once (`FeatureSource.lookup`: one round trip per store, the
request's keys de-duplicated); the features become columns (replacing same-named ones), typed by
the view's dtypes: ``float64`` (null is NaN), ``int64`` (int64; float64 with NaN when a row is
null), ``string`` (text, null kept), ``bool``. What a miss or an unavailable store gives is the
view's declaration (`berth.core.features`), not the step's. When the request is recorded
(`StepContext.served`), the step notes per view the key, the look-up's outcome and the stored
value's write time of each row, and when the store answered.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np

from berth.core.bounded import duplicates, preview
from berth.core.codecs._arrays import Array
from berth.core.errors import BerthError
from berth.runtime.pipeline.context import FeatureAnswer, FeatureLookup, StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.lookup import _keys
from berth.runtime.pipeline.spec import SpecReader, invalid_spec
from berth.runtime.pipeline.step import column_of, step_failed

MAX_VIEWS: Final = 16


@dataclass(frozen=True, slots=True)
class ViewRef:
    view: str
    key: str
    features: tuple[str, ...] | None = None

    def describe(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"view": self.view, "key": self.key}
        if self.features is not None:
            spec["features"] = list(self.features)
        return spec


@dataclass(frozen=True, slots=True)
class FeaturesStep:
    views: tuple[ViewRef, ...]
    kind = "features"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> FeaturesStep:
        value = spec.value("views")
        if not isinstance(value, list) or not 0 < len(value) <= MAX_VIEWS:
            raise invalid_spec(f"'views' must be a list of 1 to {MAX_VIEWS} views")
        views = tuple(_view_ref(i, item) for i, item in enumerate(value))
        repeated = duplicates([v.view for v in views])
        if repeated:
            raise invalid_spec(f"'views' names {preview(sorted(repeated))} more than once")
        return cls(views)

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "views": [v.describe() for v in self.views]}

    def view_names(self) -> list[str]:
        return [v.view for v in self.views]

    def columns_read(self) -> Collection[str]:
        return tuple(dict.fromkeys(v.key for v in self.views))

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        if known is None or any(v.features is None for v in self.views):
            return None
        return known | frozenset(f for v in self.views for f in v.features or ())

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        keys_by_view = [_keys(v.key, column_of(frame, v.key)) for v in self.views]
        lookups = [
            FeatureLookup(v.view, list(dict.fromkeys(k for k in keys if k is not None)), v.features)
            for v, keys in zip(self.views, keys_by_view, strict=True)
        ]
        with ctx.tracing.span("berth.features") as span:
            if span is not None:
                span.set_attributes(
                    {"berth.views": len(lookups), "berth.keys": sum(len(x.keys) for x in lookups)}
                )
            answers = await ctx.features.lookup(lookups)
        columns: dict[str, Array] = {}
        served = ctx.served
        for ref, keys, answer in zip(self.views, keys_by_view, answers, strict=True):
            rows = [answer.rows.get(k) if k is not None else None for k in keys]
            names = ref.features if ref.features is not None else tuple(answer.dtypes)
            for name in names:
                columns[name] = _column(ref.view, name, answer.dtypes.get(name, "float64"), rows)
            if served is not None:
                served.append(_served(ref.view, keys, answer))
        return frame.with_columns(columns)


def _served(view: str, keys: list[str | None], answer: FeatureAnswer) -> dict[str, Any]:
    """What the view gave each row, for the record (`berth.core.records.FeaturesServed`): lists
    only, one item a row (a row without a key, or a key absent from a map, gives null)."""
    outcomes = cast(Mapping[str | None, str], answer.outcomes)
    written = cast(Mapping[str | None, float], answer.written_at)
    return {
        "view": view,
        "read_at": answer.read_at,
        "keys": keys,
        "outcomes": list(map(outcomes.get, keys)),
        "written_at": list(map(written.get, keys)),
    }


def _view_ref(index: int, item: Any) -> ViewRef:
    if not isinstance(item, Mapping):
        raise invalid_spec(f"views[{index}] must be an object with 'view', 'key' and optionally 'features'")
    reader = SpecReader({"type": "view", **item})
    try:
        view, key = reader.text("view"), reader.text("key")
        features = reader.names("features") if reader.has("features") else None
        reader.done()
    except BerthError as exc:
        raise invalid_spec(f"views[{index}]: {exc.message}") from None
    return ViewRef(view, key, features)


def _column(view: str, name: str, dtype: str, rows: Sequence[Mapping[str, Any] | None]) -> Array:
    values: list[Any] = [None if row is None else row.get(name) for row in rows]
    try:
        if dtype == "string":
            return np.array([None if v is None else str(v) for v in values], dtype=object)
        if dtype == "bool":
            if None in values:
                return np.array(values, dtype=object)
            return np.array([bool(v) for v in values], dtype=bool)
        if dtype == "int64" and None not in values:
            return np.array([int(v) for v in values], dtype=np.int64)
        return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise step_failed(
            f"feature {name!r} of view {view!r} holds a value that is not {dtype}: {exc}", feature=name
        ) from None
