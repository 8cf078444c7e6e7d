"""The contracts of feature views' stores: where definitions live, and the online stores by URI.

`OnlineStore` is one source of feature values (the embedded table, Redis, Feast), built by the
wiring from a view's source URI (`berth.wiring.implementations.open_feature_store`). A read takes
every view and key of one request that goes to that store, so the store can answer in one round
trip (one query, one MGET, one HTTP call).

`FeatureHistory` is a view's offline history (``offline``: Parquet in the home or in an allowed
``s3://`` location, `berth.storage.parquet_history`), built by the wiring from that URI
(`berth.wiring.implementations.FEATURE_HISTORIES`): the point-in-time join of training sets reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from berth.core.features import FeatureView

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One entity's values in a view, and when they were written (unix seconds; None: unknown)."""

    values: Mapping[str, Any]
    updated_at: float | None


@dataclass(frozen=True, slots=True)
class ViewRead:
    """What a read asks of one view: its definition, the (distinct) keys and the features wanted."""

    view: FeatureView
    keys: Sequence[str]
    features: Sequence[str]


class OnlineStore(Protocol):
    """Feature values by view and key."""

    async def read(self, reads: Sequence[ViewRead]) -> list[dict[str, StoredRow]]:
        """For each read, key -> row for the keys found (absent keys: not found). One round trip."""
        ...

    def write(
        self, view: FeatureView, rows: Mapping[str, Mapping[str, Any]], at: float | Mapping[str, float]
    ) -> int:
        """Insert or replace each key's values (already checked against the view); how many. `at`
        is the write time (unix seconds), one for all or one per key (the materialize job gives each
        value its event time); a store that keeps write times records it."""
        ...

    async def warm(self) -> None:
        """Open the connection the reads of the running event loop will use (one round trip), so a
        request's read is not also a connection set-up; raises when the store cannot be reached."""
        ...

    def close(self) -> None:
        """Release what the blocking calls (writes) hold."""
        ...

    async def aclose(self) -> None:
        """Release what the reads of the running event loop hold."""
        ...


class FeatureViewStore(Protocol):
    """The definitions of feature views; owners are those of the entity tables of the same name."""

    def create_view(self, view: FeatureView, *, team: str | None) -> FeatureView: ...

    def get_view(self, name: str) -> FeatureView | None: ...

    def list_views(self) -> list[FeatureView]: ...

    def update_view(self, view: FeatureView) -> FeatureView: ...

    def delete_view(self, name: str) -> bool: ...


class FeatureHistory(Protocol):
    """A view's offline history: the values each entity had at given times."""

    def as_of(self, features: Sequence[str], entities: pa.Table) -> pa.Table:
        """`entities` has columns ``key`` (string) and ``at`` (timestamp[us, tz=UTC]); the answer
        has the same rows in the same order with one column per feature: the value of the key's
        latest history row whose event time is at or before ``at`` (never a later one) and within
        the view's TTL, null where there is none."""
        ...
