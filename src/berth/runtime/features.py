"""Online feature look-ups on the hot path: every view of a request read at once.

`OnlineFeatures` is the `FeatureSource` of the pipeline's ``features`` step. For one request it

- groups the views by store (their source URI) and reads each store once, concurrently
  (`OnlineStore.read`: one MGET, one query, one Feast call), with the keys de-duplicated;
- bounds each read by the largest latency budget of its views; a view whose own budget passed
  before the answer came, or whose store failed, is *unavailable*: ``fail`` raises
  FEATURES_UNAVAILABLE (503), ``defaults`` gives every row the view's defaults;
- treats a key that is absent, or older than the view's TTL (stale), as a *miss*: ``null``,
  ``defaults`` or ``refuse`` (ENTITY_NOT_FOUND naming the first such key);
- tells `observe` the outcome of every row (hit, miss, stale, unavailable) per view, and each
  store read's duration, for the server's metrics;
- answers, besides the values, each key's outcome, the write time of the value the store held
  (Redis and the embedded table keep it; Feast answers its event time) and when the store
  answered: the `features` step puts them in the request's record (`FeaturesServed`).

The view definitions are read from the database in the I/O threads and kept; they are read again
in the background every `refresh_s`, or at once (one read shared by the requests waiting) when a
request names a view that is not known yet. A view deleted or changed takes effect within `refresh_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final, Protocol

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, OnMiss, OnUnavailable
from berth.runtime.pipeline.context import FeatureAnswer, FeatureLookup
from berth.storage.feature_protocols import OnlineStore, StoredRow, ViewRead

log = logging.getLogger(__name__)

WARM_TIMEOUT_S: Final = 3.0
"""How long a server's start waits for its feature stores' first connections."""

HIT: Final = "hit"
MISS: Final = "miss"
STALE: Final = "stale"
UNAVAILABLE: Final = "unavailable"


class FeatureObserver(Protocol):
    def rows(self, view: str, outcome: str, count: int) -> None: ...

    def read(self, store: str, seconds: float, ok: bool) -> None: ...


class _Quiet:
    def rows(self, view: str, outcome: str, count: int) -> None:
        pass

    def read(self, store: str, seconds: float, ok: bool) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Group:
    store: OnlineStore
    scheme: str
    reads: list[tuple[int, ViewRead]]


class OnlineFeatures:
    def __init__(
        self,
        definitions: Callable[[], list[FeatureView]],
        store_for: Callable[[str], OnlineStore],
        io_executor: Executor | None = None,
        *,
        refresh_s: float = 2.0,
        observer: FeatureObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._definitions = definitions
        self._store_for = store_for
        self._stores: dict[str, OnlineStore] = {}
        self._io = io_executor
        self._refresh_s = refresh_s
        self._observe = observer or _Quiet()
        self._clock = clock
        self._views: dict[str, FeatureView] = {}
        self._loaded_at = -1e18
        self._refreshing: asyncio.Task[None] | None = None
        self._loading: asyncio.Task[None] | None = None

    async def lookup(self, lookups: Sequence[FeatureLookup]) -> list[FeatureAnswer]:
        views = await self._resolve([x.view for x in lookups])
        groups: dict[str, _Group] = {}
        for index, (lookup, view) in enumerate(zip(lookups, views, strict=True)):
            features = list(lookup.features) if lookup.features is not None else list(view.features)
            unknown = [f for f in features if f not in view.features]
            if unknown:
                raise BerthError(
                    ErrorCode.PIPELINE_STEP_FAILED,
                    f"feature view {view.name!r} has no features {unknown[:5]}",
                    view=view.name,
                )
            group = groups.get(view.source)
            if group is None:
                group = groups[view.source] = _Group(self._store(view.source), view.scheme, [])
            group.reads.append((index, ViewRead(view, list(lookup.keys), features)))
        answers: list[FeatureAnswer | None] = [None] * len(lookups)
        results = await asyncio.gather(*(self._read(g) for g in groups.values()))
        for group, (found, elapsed_ms, read_at) in zip(groups.values(), results, strict=True):
            for (index, read), rows in zip(group.reads, found, strict=True):
                late = rows is None or elapsed_ms > read.view.budget_ms
                answers[index] = self._answer(read, None if late else rows, read_at)
        return [a for a in answers if a is not None]

    # -- one store ---------------------------------------------------------------------------
    async def _read(self, group: _Group) -> tuple[list[dict[str, StoredRow] | None], float, float]:
        """Each view's rows (None: the store failed or missed the budget), the read's duration in
        ms, and when it was answered (the clock's unix seconds: the record's ``read_at``)."""
        reads = [r for _, r in group.reads]
        if not any(r.keys for r in reads):
            return [{} for _ in reads], 0.0, self._clock()
        budget_s = max(r.view.budget_ms for r in reads) / 1000
        start = time.perf_counter()
        try:
            rows: list[dict[str, StoredRow] | None] = list(
                await asyncio.wait_for(group.store.read(reads), budget_s)
            )
            ok = True
        except (TimeoutError, BerthError, OSError):
            rows, ok = [None] * len(reads), False
        elapsed = time.perf_counter() - start
        self._observe.read(group.scheme, elapsed, ok)
        return rows, elapsed * 1000, self._clock()

    def _answer(self, read: ViewRead, rows: dict[str, StoredRow] | None, now: float) -> FeatureAnswer:
        view = read.view
        dtypes = {f: view.features[f].value for f in read.features}
        if rows is None:
            self._observe.rows(view.name, UNAVAILABLE, len(read.keys))
            if view.on_unavailable is OnUnavailable.FAIL:
                raise BerthError(
                    ErrorCode.FEATURES_UNAVAILABLE,
                    f"feature view {view.name!r}: its store ({view.scheme}) failed or missed the "
                    f"{view.budget_ms:g} ms budget",
                    view=view.name,
                )
            outcomes = dict.fromkeys(read.keys, UNAVAILABLE)
            return FeatureAnswer(dict.fromkeys(read.keys, view.defaults), dtypes, outcomes, {}, now)
        out: dict[str, Mapping[str, Any] | None] = {}
        outcome: dict[str, str] = {}
        written: dict[str, float] = {}
        counts = {HIT: 0, MISS: 0, STALE: 0}
        ttl = view.ttl_s
        for key in read.keys:
            row = rows.get(key)
            if row is not None:
                at = row.updated_at
                if at is not None:
                    written[key] = at
                if ttl is None or at is None or now - at <= ttl:
                    counts[HIT] += 1
                    outcome[key] = HIT
                    out[key] = row.values
                    continue
                counts[STALE] += 1
                outcome[key] = STALE
            else:
                counts[MISS] += 1
                outcome[key] = MISS
            if view.on_miss is OnMiss.REFUSE:
                self._count(view.name, counts)
                why = "is stale" if row is not None else "is not found"
                raise BerthError(
                    ErrorCode.ENTITY_NOT_FOUND,
                    f"key {key!r} {why} in feature view {view.name!r}",
                    table=view.name,
                    key=key,
                )
            out[key] = view.defaults if view.on_miss is OnMiss.DEFAULTS else None
        self._count(view.name, counts)
        return FeatureAnswer(out, dtypes, outcome, written, now)

    def _count(self, view: str, counts: Mapping[str, int]) -> None:
        for outcome, count in counts.items():
            if count:
                self._observe.rows(view, outcome, count)

    def _store(self, source: str) -> OnlineStore:
        store = self._stores.get(source)
        if store is None:
            try:
                store = self._store_for(source)
            except BerthError as exc:  # not a server views may reach, a missing extra: unavailable
                log.warning("feature source %s cannot be opened: %s", source, exc.message)
                store = _Unopenable(exc)
            self._stores[source] = store
        return store

    # -- definitions ---------------------------------------------------------------------------
    async def _resolve(self, names: Sequence[str]) -> list[FeatureView]:
        age = time.monotonic() - self._loaded_at
        if any(n not in self._views for n in names):
            await self._reload_now()
        elif age > self._refresh_s and self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        missing = [n for n in names if n not in self._views]
        if missing:
            raise BerthError(
                ErrorCode.FEATURES_UNAVAILABLE, f"feature view {missing[0]!r} does not exist", view=missing[0]
            )
        return [self._views[n] for n in names]

    async def _reload_now(self) -> None:
        """Read the definitions now (a view created a moment ago); requests that arrive while it
        runs wait for the same read (an endpoint names only views that existed when it was made,
        and a view an endpoint reads cannot be deleted, so this is rare)."""
        loading = self._loading
        if loading is None:
            loading = self._loading = asyncio.get_running_loop().create_task(self._reload())
            loading.add_done_callback(self._loaded)
        await asyncio.shield(loading)

    def _loaded(self, task: asyncio.Task[None]) -> None:
        self._loading = None
        if not task.cancelled():
            task.exception()  # retrieved: the requests that waited for it raised it

    async def _refresh(self) -> None:
        try:
            await self._reload()
        except BerthError:
            self._loaded_at = time.monotonic()  # the database is away: keep what is known, try later
        finally:
            self._refreshing = None

    async def _reload(self) -> None:
        views = await asyncio.get_running_loop().run_in_executor(self._io, self._definitions)
        self._views = {v.name: v for v in views}
        self._loaded_at = time.monotonic()

    async def warm(self, timeout_s: float = WARM_TIMEOUT_S) -> None:
        """Read the view definitions and connect every store they name, concurrently, within
        `timeout_s`: the server does it before it says it is ready, so a request's read (bounded by
        a budget of a few ms) is never also a connection set-up. A store that cannot be reached is
        logged and left to the requests (each view's `on_unavailable`); so is a database that
        cannot be read now."""
        try:
            await self._reload()
        except BerthError as exc:
            log.warning("feature views not read before serving: %s", exc.message)
            return
        stores = {v.source: self._store(v.source) for v in self._views.values()}
        if not stores:
            return
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(s.warm() for s in stores.values()), return_exceptions=True), timeout_s
            )
        except TimeoutError:
            log.warning("feature stores not all connected within %g s before serving", timeout_s)
            return
        for source, result in zip(stores, results, strict=True):
            if isinstance(result, Exception):
                log.warning("feature source %s not reached before serving: %s", source, result)
            elif isinstance(result, BaseException):
                raise result

    async def aclose(self) -> None:
        """Close every store's connections (on the event loop that read through them)."""
        stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            await store.aclose()
            store.close()


class _Unopenable:
    """The store of a source that could not be opened here: every read fails with why, so the
    views it serves answer as unavailable (each view's `on_unavailable`), never with the opener's
    error as the request's own."""

    def __init__(self, error: BerthError) -> None:
        self._error = error

    async def warm(self) -> None:
        raise self._error

    async def read(self, reads: Sequence[ViewRead]) -> list[dict[str, StoredRow]]:
        raise self._error

    def write(
        self, view: FeatureView, rows: Mapping[str, Mapping[str, Any]], at: float | Mapping[str, float]
    ) -> int:
        raise self._error

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
