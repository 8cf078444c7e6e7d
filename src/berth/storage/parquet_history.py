"""A feature view's offline history in Parquet: a file or a folder (dataset) of the berth home, or
``s3://`` objects in a location batch jobs may reach (`berth.storage.batch_data.BatchData`).

The history's rows have the view's entity key, an event time (``timestamp_field``: a timestamp, or
unix seconds) and the features. Everything here reads it one row group at a time, so memory holds
one row group and the answer, never the whole history:

- `ParquetHistory.as_of` (the `FeatureHistory` protocol, the training sets' point-in-time join):
  for each (key, at) the latest row at or before ``at`` and within the TTL. Each row group is joined
  to the entities with pyarrow's ``Table.join_asof`` (Acero's as-of join: pyarrow is pinned at 26,
  where it is there; DuckDB is not a dependency and a hand-written search per key would be slower and
  ours to get right), with the tolerance ``-ttl``; across row groups the row with the later event
  time wins, so the history's files need no order.
- `ParquetHistory.latest` (the materialize job): each key's latest row at or before a time, within
  the TTL and after ``since``: a running reduction, one row per key kept between row groups.

Times are compared as integer microseconds since the epoch (UTC; a timestamp without a zone is UTC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import Dtype, FeatureView

if TYPE_CHECKING:
    from berth.storage.batch_data import BatchData, S3Place

ARROW_TYPES: Final = {
    Dtype.FLOAT64: pa.float64(),
    Dtype.INT64: pa.int64(),
    Dtype.STRING: pa.string(),
    Dtype.BOOL: pa.bool_(),
}
AT: Final = pa.timestamp("us", tz="UTC")
_NO_TTL_US: Final = 1 << 62
_HIDDEN: Final = (".", "_")
Progress = Callable[[int, int], None]
"""``progress(row groups read, row groups in all)``."""


def offline_error(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_OFFLINE_SOURCE, message)


@dataclass(frozen=True, slots=True)
class RowGroup:
    """One row group of the history, read on demand (only the columns asked for)."""

    read: Callable[[Sequence[str]], pa.Table]


class ParquetParts:
    """Where a history's Parquet is: its schema and its row groups, in file (key) order."""

    def schema(self) -> pa.Schema | None:
        """The first file's schema; None when there is no Parquet there (yet)."""
        raise NotImplementedError

    def row_groups(self) -> list[RowGroup]:
        raise NotImplementedError


class HomeParquet(ParquetParts):
    """A Parquet file, or a folder of them (hidden ``.``/``_`` names skipped), in the berth home."""

    def __init__(self, home: Path, relative: str) -> None:
        self.path = home_path(home, relative)
        self._relative = relative

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            return []
        root = self.path.resolve()
        found = []
        for file in sorted(self.path.rglob("*.parquet")):
            parts = file.relative_to(self.path).parts
            if any(p.startswith(_HIDDEN) for p in parts) or not file.resolve().is_relative_to(root):
                continue
            found.append(file)
        return found

    def schema(self) -> pa.Schema | None:
        files = self.files()
        if not files:
            return None
        try:
            return pq.read_schema(files[0])
        except (OSError, pa.ArrowInvalid) as exc:
            raise offline_error(f"offline history {self._relative!r} is not Parquet: {exc}") from None

    def row_groups(self) -> list[RowGroup]:
        groups: list[RowGroup] = []
        for file in self.files():
            count = pq.ParquetFile(file).metadata.num_row_groups
            groups.extend(RowGroup(_local_reader(file, i)) for i in range(count))
        return groups


def _local_reader(file: Path, index: int) -> Callable[[Sequence[str]], pa.Table]:
    def read(columns: Sequence[str]) -> pa.Table:
        return pq.ParquetFile(file).read_row_group(index, columns=list(columns))

    return read


class S3Parquet(ParquetParts):
    """Parquet objects at an ``s3://`` place the operator allows (checked by `BatchData`)."""

    def __init__(self, data: BatchData, uri: str) -> None:
        try:
            self.place = data.place(uri, "offline")
        except BerthError as exc:
            raise offline_error(exc.message) from None
        self._data = data

    def schema(self) -> pa.Schema | None:
        objects = self._data.parquet_objects(self.place)
        if not objects:
            return None
        schema: pa.Schema = self._data.read(objects[0].place, []).schema
        return schema

    def row_groups(self) -> list[RowGroup]:
        return [
            RowGroup(_s3_reader(self._data, obj.place, i))
            for obj in self._data.parquet_objects(self.place)
            for i in range(len(obj.row_groups))
        ]


def _s3_reader(data: BatchData, place: S3Place, index: int) -> Callable[[Sequence[str]], pa.Table]:
    def read(columns: Sequence[str]) -> pa.Table:
        return data.read(place, [index]).select(list(columns))

    return read


def home_path(home: Path, relative: str) -> Path:
    """`relative` inside `home` (INVALID_OFFLINE_SOURCE when it is absolute, climbs out with
    ``..``, or leads out through a symbolic link)."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or "\\" in relative or "\x00" in relative:
        raise offline_error(
            f"'offline' must be a path inside the berth home (relative to it), got {relative!r}"
        )
    root = home.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise offline_error(f"'offline' {relative!r} leads out of the berth home")
    return path


class ParquetHistory:
    """A view's history in Parquet (see the module doc)."""

    def __init__(self, view: FeatureView, parts: ParquetParts) -> None:
        self.view = view
        self._parts = parts

    def check(self) -> None:
        """When there is Parquet there: that it has the key, the event time and every feature with
        a compatible type (INVALID_OFFLINE_SOURCE naming what is missing). Nothing there yet: passes."""
        schema = self._parts.schema()
        if schema is None:
            return
        view = self.view
        where = f"offline history {view.offline!r}"
        missing = [c for c in (view.entity, view.timestamp_field, *view.features) if c not in schema.names]
        if missing:
            raise offline_error(f"{where} has no columns {missing} (it has {schema.names[:20]})")
        key = schema.field(view.entity).type
        if not (pa.types.is_string(key) or pa.types.is_large_string(key) or pa.types.is_integer(key)):
            raise offline_error(f"{where}: the key {view.entity!r} is {key}, not text or an integer")
        at = schema.field(view.timestamp_field).type
        if not (pa.types.is_timestamp(at) or pa.types.is_integer(at) or pa.types.is_floating(at)):
            raise offline_error(f"{where}: {view.timestamp_field!r} is {at}, not a timestamp or unix seconds")
        for name, dtype in view.features.items():
            found = schema.field(name).type
            if not _compatible(dtype, found):
                raise offline_error(f"{where}: feature {name!r} is {found}, not {dtype.value}")

    def as_of(self, features: Sequence[str], entities: pa.Table) -> pa.Table:
        wanted = self._features(features)
        names = [f"__f{i}" for i in range(len(wanted))]
        total = entities.num_rows
        keys = entities.column("key").cast(pa.string())
        ats = entities.column("at").cast(AT).cast(pa.int64())
        known = pc.and_(pc.is_valid(keys), pc.is_valid(ats))
        rows = pc.indices_nonzero(known)
        left = pa.table({"key": keys.take(rows), "at": ats.take(rows), "__i": rows}).sort_by("at")
        distinct = pc.unique(left.column("key"))
        tolerance = -int(self.view.ttl_s * 1e6) if self.view.ttl_s is not None else -_NO_TTL_US
        best: pa.Table | None = None
        for chunk in self._chunks(wanted) if left.num_rows else ():
            chunk = chunk.filter(pc.is_in(chunk.column("key"), distinct))
            if chunk.num_rows == 0:
                continue
            right = pa.table(
                {"key": chunk.column("key"), "__t": chunk.column("ev"), "__ev": chunk.column("ev")}
                | {n: chunk.column(f) for n, f in zip(names, wanted, strict=True)}
            ).sort_by("__t")
            found = left.join_asof(
                right, on="at", by="key", tolerance=tolerance, right_on="__t", right_by="key"
            ).sort_by("__i")
            best = found if best is None else _newer(best, found, ["__ev", *names])
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        # the answer in the callers' order: position -> its row in `best` (null: no key or time)
        where = (
            None if best is None else pa.array(_positions(total, best.column("__i").to_pylist()), pa.int64())
        )
        for name, feature in zip(names, wanted, strict=True):
            kind = ARROW_TYPES[self.view.features[feature]]
            found = pa.nulls(total, kind) if best is None else best.column(name).cast(kind).take(where)
            columns[feature] = found
        return pa.table(columns)

    def latest(self, at: float, since: float | None = None, progress: Progress | None = None) -> pa.Table:
        """Each key's latest row with an event time at or before `at` (unix seconds), within the
        TTL before `at` and not before `since`: columns ``key``, ``ev`` (microseconds) and the
        features, one row per key."""
        upper = int(at * 1e6)
        lowers = [int(since * 1e6)] if since is not None else []
        if self.view.ttl_s is not None:
            lowers.append(upper - int(self.view.ttl_s * 1e6))
        lower = max(lowers) if lowers else None
        features = list(self.view.features)
        kept: pa.Table | None = None
        groups = self._parts.row_groups()
        for done, chunk in enumerate(self._chunks(features, groups), start=1):
            keep = pc.less_equal(chunk.column("ev"), upper)
            if lower is not None:
                keep = pc.and_(keep, pc.greater_equal(chunk.column("ev"), lower))
            chunk = chunk.filter(keep)
            kept = _last_per_key(chunk if kept is None else pa.concat_tables([kept, chunk]))
            if progress is not None:
                progress(done, len(groups))
        if kept is None:
            schema = [("key", pa.string()), ("ev", pa.int64())]
            schema += [(f, ARROW_TYPES[self.view.features[f]]) for f in features]
            return pa.schema(schema).empty_table()
        return kept

    # -- pieces --------------------------------------------------------------------------------
    def _features(self, features: Sequence[str]) -> list[str]:
        unknown = [f for f in features if f not in self.view.features]
        if unknown:
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"view {self.view.name!r} has no features {unknown[:5]}"
            )
        if not features:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"name features of view {self.view.name!r} to read")
        return list(dict.fromkeys(features))

    def _chunks(self, features: Sequence[str], groups: list[RowGroup] | None = None) -> Iterator[pa.Table]:
        """Each row group as ``key`` (text), ``ev`` (microseconds) and the features (typed by the
        view); rows without a key or an event time are passed by."""
        view = self.view
        columns = [view.entity, view.timestamp_field, *features]
        for group in self._parts.row_groups() if groups is None else groups:
            try:
                raw = group.read(columns)
            except KeyError as exc:
                raise offline_error(f"offline history {view.offline!r} has no column {exc}") from None
            except OSError as exc:
                raise offline_error(f"offline history {view.offline!r} cannot be read: {exc}") from None
            try:
                table = pa.table(
                    {
                        "key": raw.column(view.entity).cast(pa.string()),
                        "ev": _micros(raw.column(view.timestamp_field)),
                    }
                    | {f: raw.column(f).cast(ARROW_TYPES[view.features[f]]) for f in features}
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise offline_error(f"offline history {view.offline!r}: {exc}") from None
            yield table.filter(pc.and_(pc.is_valid(table.column("key")), pc.is_valid(table.column("ev"))))


def _compatible(dtype: Dtype, found: pa.DataType) -> bool:
    if dtype is Dtype.FLOAT64:
        return bool(pa.types.is_floating(found) or pa.types.is_integer(found))
    if dtype is Dtype.INT64:
        return bool(pa.types.is_integer(found))
    if dtype is Dtype.STRING:
        return bool(pa.types.is_string(found) or pa.types.is_large_string(found))
    return bool(pa.types.is_boolean(found))


def _micros(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """An event-time column as integer microseconds since the epoch (unix seconds, or a timestamp;
    one without a zone is UTC)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return column.cast(pa.timestamp("us", tz=kind.tz), safe=False).cast(pa.int64())  # ns: truncated
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.round(pc.multiply(column.cast(pa.float64()), 1e6)).cast(pa.int64())
    raise pa.ArrowInvalid(f"the event time is {kind}, not a timestamp or unix seconds")


def _newer(best: pa.Table, found: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Row by row (both sorted alike), `found`'s values where its event time is later than `best`'s."""
    ev_best, ev_found = best.column("__ev"), found.column("__ev")
    take = pc.fill_null(pc.or_kleene(pc.is_null(ev_best), pc.greater(ev_found, ev_best)), False)
    take = pc.and_(take, pc.is_valid(ev_found))
    for name in columns:
        index = best.schema.get_field_index(name)
        best = best.set_column(index, name, pc.if_else(take, found.column(name), best.column(name)))
    return best


def _last_per_key(table: pa.Table) -> pa.Table:
    """One row per key: the one with the latest event time (the last of ties)."""
    if table.num_rows == 0:
        return table
    ordered = table.sort_by([("key", "ascending"), ("ev", "ascending")])
    keys = ordered.column("key").combine_chunks()
    last = pc.not_equal(keys.slice(0, len(keys) - 1), keys.slice(1))
    mask = pa.concat_arrays([last, pa.array([True])])
    return ordered.filter(mask)


def _positions(total: int, rows: list[int]) -> list[int | None]:
    """For each of `total` positions, where it is in `rows` (None: not there)."""
    where: list[int | None] = [None] * total
    for at, row in enumerate(rows):
        where[row] = at
    return where
