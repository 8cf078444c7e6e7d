"""The point-in-time join of training sets: features a model was not given, as they were when it
answered, from feature views' offline histories.

A record export (`berth.control.record_exports`) asked with ``join`` gets, after it is written, one
column per joined feature, named ``VIEW.feature``: a list with one value per predicted row of the
record (the rows `berth.control.training_sets` lays out), each the value of the latest history row
for the row's key with an event time at or before the record's ``recorded_at`` (never a later
one: no leakage) and within the view's TTL, null otherwise (`FeatureHistory.as_of`).

A row's key is the join's ``key`` column (default: the view's entity name), looked up in the
record's model inputs as served, then in its request inputs, then the record's ``entity_key``.

The export is rewritten one row group (10,000 records) at a time, each group's rows joined to the
history read a row group at a time: memory holds one group of each, not the export nor the history
(the history is read once per export row group: an export of millions of records over a large
history reads it several times, the price of the bound).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import pyarrow as pa

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView
from berth.storage.feature_protocols import FeatureHistory

MAX_JOINS: Final = 16
AT: Final = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class Join:
    """One view joined: the features wanted and the column holding each row's key."""

    view: FeatureView
    features: tuple[str, ...]
    key: str

    def column(self, feature: str) -> str:
        return f"{self.view.name}.{feature}"

    def to_json(self) -> dict[str, Any]:
        return {"view": self.view.name, "features": list(self.features), "key": self.key}


def check_join_specs(specs: Any) -> list[dict[str, Any]]:
    """The ``join`` parameter's shape: a list of ``{"view", "features"?, "key"?}`` (INVALID_REQUEST)."""
    if specs is None:
        return []
    if not isinstance(specs, list) or len(specs) > MAX_JOINS:
        raise _invalid(f"'join' is a list of at most {MAX_JOINS} views to join")
    checked = []
    for spec in specs:
        if not isinstance(spec, Mapping) or set(spec) - {"view", "features", "key"}:
            raise _invalid('each join is {"view": NAME, "features": [...], "key": COLUMN}')
        view, features, key = spec.get("view"), spec.get("features"), spec.get("key")
        if not isinstance(view, str) or not view or len(view) > 128:
            raise _invalid("a join's 'view' names a feature view")
        if features is not None and (
            not isinstance(features, list) or not all(isinstance(f, str) for f in features)
        ):
            raise _invalid(f"the join of {view!r}: 'features' is a list of feature names")
        if key is not None and (not isinstance(key, str) or not key or len(key) > 128):
            raise _invalid(f"the join of {view!r}: 'key' names a column")
        checked.append({"view": view, "features": features, "key": key})
    names = [s["view"] for s in checked]
    if len(set(names)) != len(names):
        raise _invalid("each view is joined once")
    return checked


def resolve_joins(specs: Any, view_of: Callable[[str], FeatureView]) -> list[Join]:
    """The joins `specs` asks for, against the views as they are now: each exists
    (ENTITY_TABLE_NOT_FOUND), declares an offline history (INVALID_OFFLINE_SOURCE) and has the
    features named (INVALID_REQUEST)."""
    joins = []
    for spec in check_join_specs(specs):
        view = view_of(spec["view"])
        if view.offline is None:
            raise BerthError(
                ErrorCode.INVALID_OFFLINE_SOURCE,
                f"feature view {view.name!r} declares no offline history to join (its 'offline')",
            )
        features = tuple(spec["features"] or view.features)
        unknown = [f for f in features if f not in view.features]
        if unknown or not features:
            raise _invalid(f"view {view.name!r} has no features {unknown[:5]}")
        joins.append(Join(view, tuple(dict.fromkeys(features)), spec["key"] or view.entity))
    return joins


def joined_columns(
    records: pa.Table, joins: Sequence[Join], history_of: Callable[[FeatureView], FeatureHistory]
) -> dict[str, pa.Array]:
    """For a group of export rows (records): one list column per joined feature (see the module doc)."""
    columns: dict[str, pa.Array] = {}
    recorded = records.column("recorded_at").cast(AT).to_pylist()
    listed = records.select(["entity_key", "inputs", "model_inputs"]).to_pylist()
    for join in joins:
        offsets, keys, ats = [0], [], []
        for record, at in zip(listed, recorded, strict=True):
            row_keys = _row_keys(record, join.key)
            keys.extend(row_keys)
            ats.extend([at] * len(row_keys))
            offsets.append(len(keys))
        entities = pa.table({"key": pa.array(keys, pa.string()), "at": pa.array(ats, AT)})
        found = history_of(join.view).as_of(join.features, entities)
        for feature in join.features:
            values = found.column(feature).combine_chunks()
            columns[join.column(feature)] = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    return columns


def _row_keys(record: Mapping[str, Any], column: str) -> list[str | None]:
    """Each predicted row's key: the served inputs' `column`, else the request's, else the entity key."""
    served = _tensors(record["model_inputs"]) or _tensors(record["inputs"])
    rows = _rows(served)
    for tensors in (_tensors(record["model_inputs"]), _tensors(record["inputs"])):
        tensor = tensors.get(column)
        if tensor is not None:
            data = tensor.get("data") or []
            return [_text(data[i]) if i < len(data) else None for i in range(rows)]
    return [record["entity_key"]] * rows


def _tensors(text: str | None) -> dict[str, dict[str, Any]]:
    found = orjson.loads(text) if text else {}
    return {str(k): v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


def _rows(tensors: Mapping[str, Mapping[str, Any]]) -> int:
    firsts = [int(t["shape"][0]) if t.get("shape") else 1 for t in tensors.values()]
    return max(firsts) if firsts else 0


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | float | dict | list):
        return None if not isinstance(value, float) or not value.is_integer() else str(int(value))
    return str(value)


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, message)
