"""Quality of served features: null rate per view and feature, freshness of the entities served.

An endpoint's ``features`` steps add the features of feature views to each request; its records
keep the request as received (`inputs`, holding the entity keys) and the model's inputs after the
pre-steps (`model_inputs`, holding the served features). From the records of a window this gives,
per view:

- **null rate** of each served feature: the share of rows whose value is missing (NaN, None, or
  ``""``) in the model's inputs. A miss under ``on_miss: null``, or a value the store holds as
  null, shows here; a later step that fills nulls (``defaults``) hides them, and a feature a later
  step drops (or renames) is not in the records (`null_rate` None);
- **freshness** of the entities served: the distinct keys of the window (the newest
  `max_entities`), read from the view's store as it is now: the share not in the store
  (`missing_share`), the share whose last write is older than the view's TTL (`stale_share`),
  and the age of their last writes (p50, p95, max; `age_p95_over_ttl`; None where the store does
  not say when a value was written, as a Feast server may not). It is the store's state
  now, not at serving time;
- **look-ups** at serving time, from what the records kept of each read (`FeaturesServed`): the
  rows looked up in the window's records and the share of each outcome (``hit``, ``miss``,
  ``stale``, ``unavailable``), and the age of the values served at the time they were read (hits:
  ``read_at - written_at``; p50, p95, max). Records made before they kept it count for nothing
  here (`rows` 0, shares None).

`drift` of served features is the drift report's (the model's inputs against the reference
profile), attached by `berth.control.monitor_service`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from berth.control.monitoring.features import current_features
from berth.core.features import FeatureView
from berth.core.records import OUTCOMES, FeaturesServed, TensorsJson
from berth.storage.feature_protocols import StoredRow

MAX_ENTITIES: Final = 1_000
"""Distinct entity keys read back from a view's store per window (the newest records' first)."""


@dataclass(frozen=True, slots=True)
class ServedView:
    """A view a ``features`` step reads: its definition, the request column holding the keys, and
    the features the step adds."""

    view: FeatureView
    key: str
    features: tuple[str, ...]


Reader = Callable[[FeatureView, Sequence[str]], Mapping[str, StoredRow] | None]
"""What reads the stored rows of keys of a view (None: the store did not answer)."""


def feature_quality(
    served: Sequence[ServedView],
    records: Sequence[tuple[TensorsJson, TensorsJson]],
    read: Reader,
    now: float,
    *,
    lookups: Sequence[FeaturesServed] = (),
    max_entities: int = MAX_ENTITIES,
) -> list[dict[str, Any]]:
    """One entry per served view. `records`: (inputs as received, model inputs) of the window's
    records, newest first; `lookups`: what the window's records kept of each read."""
    if not served:
        return []
    inputs = current_features(i for i, _ in records).columns
    model_inputs = current_features(m for _, m in records).columns
    reads = _reads_by_view(lookups)
    return [
        _view(s, inputs, model_inputs, len(records), read, now, max_entities)
        | {"lookups": _lookups(reads.get(s.view.name, []))}
        for s in served
    ]


def _reads_by_view(lookups: Iterable[FeaturesServed]) -> dict[str, list[Mapping[str, Any]]]:
    by_view: dict[str, list[Mapping[str, Any]]] = {}
    for served in lookups:
        for read in served if isinstance(served, list) else ():
            if isinstance(read, Mapping) and isinstance(read.get("view"), str):
                by_view.setdefault(read["view"], []).append(read)
    return by_view


def _lookups(reads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The outcomes of a view's look-ups at serving time, and the age of the values served."""
    counts = dict.fromkeys(OUTCOMES, 0)
    ages: list[float] = []
    for read in reads:
        outcomes, written, read_at = (
            read.get("outcomes") or [],
            read.get("written_at") or [],
            read.get("read_at"),
        )
        for index, outcome in enumerate(outcomes):
            if outcome not in counts:
                continue
            counts[outcome] += 1
            at = written[index] if index < len(written) else None
            if outcome == "hit" and isinstance(at, int | float) and isinstance(read_at, int | float):
                ages.append(max(0.0, float(read_at) - float(at)))
    rows = sum(counts.values())
    out: dict[str, Any] = {"records": len(reads), "rows": rows}
    out |= {f"{o}_share": counts[o] / rows if rows else None for o in OUTCOMES}
    out["age_at_read_s"] = {"p50": None, "p95": None, "max": None}
    if ages:
        p50, p95 = (float(v) for v in np.percentile(ages, [50, 95]))
        out["age_at_read_s"] = {"p50": p50, "p95": p95, "max": max(ages)}
    return out


def _view(
    served: ServedView,
    inputs: Mapping[str, np.ndarray[Any, Any]],
    model_inputs: Mapping[str, np.ndarray[Any, Any]],
    records: int,
    read: Reader,
    now: float,
    max_entities: int,
) -> dict[str, Any]:
    view = served.view
    features = []
    for name in served.features:
        column = model_inputs.get(name)
        rows = 0 if column is None else int(column.size)
        nulls = None if column is None else int(_missing(column).sum())
        features.append(
            {
                "feature": name,
                "dtype": view.features[name].value if name in view.features else None,
                "rows": rows,
                "nulls": nulls,
                "null_rate": nulls / rows if nulls is not None and rows else None,
            }
        )
    keys_column = inputs.get(served.key, model_inputs.get(served.key))
    keys = [] if keys_column is None else _distinct_keys(keys_column.tolist(), max_entities)
    return {
        "view": view.name,
        "key": served.key,
        "source": view.scheme,
        "ttl_s": view.ttl_s,
        "records": records,
        "features": features,
        "freshness": _freshness(view, keys, read, now),
    }


def _freshness(view: FeatureView, keys: Sequence[str], read: Reader, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": "no_data",
        "entities": len(keys),
        "missing_share": None,
        "stale_share": None,
        "age_s": {"p50": None, "p95": None, "max": None},
        "age_p95_over_ttl": None,
    }
    if not keys:
        return out
    found = read(view, keys)
    if found is None:
        return out | {"status": "unavailable"}
    ages = np.array([now - r.updated_at for k in keys if (r := found.get(k)) and r.updated_at is not None])
    missing = sum(1 for k in keys if k not in found)
    stale = 0 if view.ttl_s is None else int((ages > view.ttl_s).sum())
    undated = ages.size == 0 and missing < len(keys)  # a store that does not say when it was written
    out |= {
        "status": "ok",
        "missing_share": missing / len(keys),
        "stale_share": None if undated and view.ttl_s is not None else stale / len(keys),
    }
    if ages.size:
        p50, p95 = (max(0.0, float(v)) for v in np.percentile(ages, [50, 95]))
        out["age_s"] = {"p50": p50, "p95": p95, "max": max(0.0, float(ages.max()))}
        if view.ttl_s:
            out["age_p95_over_ttl"] = p95 / view.ttl_s
    return out


def _distinct_keys(values: Iterable[Any], limit: int) -> list[str]:
    """Keys as the ``features`` step reads them (integers as integers, text as text), in order."""
    keys: dict[str, None] = {}
    for value in values:
        if value is None or (isinstance(value, float) and not math.isfinite(value)) or value == "":
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        keys[str(value)] = None
        if len(keys) >= limit:
            break
    return list(keys)


def _missing(column: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if column.dtype.kind == "f":
        nan: np.ndarray[Any, np.dtype[np.bool_]] = np.isnan(column)
        return nan
    if column.dtype.kind == "O":
        return np.array([v is None or v == "" or (isinstance(v, float) and math.isnan(v)) for v in column])
    return np.zeros(column.shape, dtype=bool)


def worst(views: Sequence[Mapping[str, Any]], figure: str) -> tuple[float | None, int]:
    """The highest value of a figure over the views (and the samples behind it), for alert rules:
    ``null_rate`` (of any served feature; samples: its rows), ``missing_share`` or ``stale_share``
    (samples: the entities read back), or ``miss_share``: the share of the rows looked up at serving
    time that were not served a fresh value (``miss``, ``stale``, ``unavailable``; samples: those rows)."""
    found: list[tuple[float, int]] = []
    for view in views:
        if figure == "miss_share":
            rows = view["lookups"]["rows"]
            if rows:
                missed = sum(round(view["lookups"][f"{o}_share"] * rows) for o in OUTCOMES if o != "hit")
                found.append((missed / rows, rows))
        elif figure == "null_rate":
            found += [(f["null_rate"], f["rows"]) for f in view["features"] if f["null_rate"] is not None]
        elif (value := view["freshness"][figure]) is not None:
            found.append((value, view["freshness"]["entities"]))
    if not found:
        return None, 0
    return max(found)
