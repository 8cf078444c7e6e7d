"""The ``features-materialize`` job: a view's offline history (Parquet) into its online store.

Parameters::

    {"view": "customer-profile",
     "as_of": 1767225600.0,     # unix seconds; default: when the job runs
     "since": 1767139200.0,     # only rows with an event time from then on; default: any
     "chunk_rows": 5000}        # entities per write (and per progress report while writing)

The history is read one row group at a time (`berth.storage.parquet_history.ParquetHistory.latest`,
a progress report per row group): for each entity the latest row with an event time at or before
``as_of``, within the view's TTL before it when the view has one, is kept; then they are written
to the view's store (embedded or Redis) through the views' write path
(`berth.control.feature_views.FeatureService.put`, the dtypes checked), each value with its event
time as its write time where the store keeps one (Redis: so the TTL is judged from the event time
when serving). A view served by Feast is refused: Feast materializes itself (``feast materialize``).

Enqueued through ``POST /api/v1/features/views/{view}/materialize`` (UPDATE on the view, like
writing values) or ``berth features materialize``; a ``berth worker`` runs it.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any, Final

from berth.control.jobs.context import JobContext
from berth.control.jobs.kind import JobKind
from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, check_view_name
from berth.core.jobs import JsonObject

MATERIALIZE_KIND: Final = "features-materialize"
MAX_CHUNK_ROWS: Final = 10_000
FEAST_SCHEMES: Final = ("feast+http", "feast+https")
_READ_SHARE: Final = 0.8
"""The share of the progress bar that reading the history takes (writing: the rest)."""


def check_materializable(view: FeatureView) -> None:
    """A view whose values berth writes, with an offline history (INVALID_REQUEST otherwise)."""
    if view.scheme in FEAST_SCHEMES:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"view {view.name!r} is served by Feast, which materializes itself: run `feast materialize`",
        )
    if view.offline is None:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"view {view.name!r} declares no offline history: set 'offline' (berth features update)",
        )


def check_materialize_params(params: JsonObject) -> JsonObject:
    known = {"view", "as_of", "since", "chunk_rows"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise _bad(f"unknown parameters {unknown}; {MATERIALIZE_KIND} takes {sorted(known)}")
    try:
        view = check_view_name(params.get("view", ""))
    except BerthError:
        raise _bad("'view' (the feature view's name) is required") from None
    times = {name: _seconds(name, params.get(name)) for name in ("as_of", "since")}
    if times["as_of"] is not None and times["since"] is not None and times["since"] > times["as_of"]:
        raise _bad("'since' must not be after 'as_of'")
    chunk_rows = params.get("chunk_rows", 5000)
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int)
        or not 0 < chunk_rows <= MAX_CHUNK_ROWS
    ):
        raise _bad(f"'chunk_rows' must be an integer in [1, {MAX_CHUNK_ROWS}]")
    return {"view": view, **{k: v for k, v in times.items() if v is not None}, "chunk_rows": chunk_rows}


def _seconds(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _bad(f"'{name}' is a time in unix seconds")
    return float(value)


def _run(params: JsonObject, ctx: JobContext) -> JsonObject:
    from berth.storage.parquet_history import ParquetHistory  # pyarrow: when a job runs, not when kinds load

    params = check_materialize_params(params)
    service = ctx.workspace.features
    view = service.get(params["view"])
    check_materializable(view)
    history = ctx.workspace.feature_history(view)
    if not isinstance(history, ParquetHistory):
        raise _bad(f"view {view.name!r}: materialize reads Parquet histories, not {view.offline!r}")
    as_of = float(params.get("as_of", time.time()))
    when = datetime.fromtimestamp(as_of, UTC).isoformat()

    def read(done: int, total: int) -> None:
        ctx.progress(_READ_SHARE * done / max(total, 1), f"read {done} of {total} row groups")

    ctx.progress(0.0, f"reading {view.name}'s history as of {when}")
    latest = history.latest(as_of, params.get("since"), read)
    total = latest.num_rows
    written = 0
    features = list(view.features)
    for batch in latest.to_batches(max_chunksize=int(params["chunk_rows"])):
        data = batch.to_pydict()
        rows = {key: {f: _value(data[f][i]) for f in features} for i, key in enumerate(data["key"])}
        at = {key: ev / 1e6 for key, ev in zip(data["key"], data["ev"], strict=True)}
        written += service.put(view.name, rows, at=at)
        share = _READ_SHARE + (1 - _READ_SHARE) * written / max(total, 1)
        ctx.progress(min(share, 1.0), f"wrote {written} of {total} entities")
    ctx.progress(1.0, f"wrote {written} entities to {view.name} (as of {when})")
    return {"view": view.name, "entities": written, "as_of": when, "source": view.source}


def _value(value: Any) -> Any:
    """A history's value as the views' write path takes it (NaN is null)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_JOB_PARAMS, message)


FEATURES_MATERIALIZE: Final = JobKind(
    MATERIALIZE_KIND,
    _run,
    check_materialize_params,
    "Write each entity's latest values as of a time from a feature view's offline history (Parquet)"
    " into its online store; made through POST /api/v1/features/views/{view}/materialize",
)
