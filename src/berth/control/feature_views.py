"""Feature views: defining them, writing their values, reading them back (not the hot path:
that is `berth.runtime.features.OnlineFeatures`).

Who may do what is decided above (routes, the CLI's embedded mode acts as the database's owner);
here: a view's definition is checked (`berth.core.features.parse_view`), its values are checked
against its dtypes before they reach its store, and a view an endpoint reads cannot be deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, parse_view
from berth.storage.feature_protocols import FeatureViewStore, OnlineStore, StoredRow, ViewRead
from berth.storage.sql_entities import check_entity_key

MAX_ROWS_PER_WRITE: Final = 10_000
MAX_KEYS_PER_READ: Final = 1_000


class FeatureService:
    def __init__(
        self,
        views: FeatureViewStore,
        store_for: Callable[[str], OnlineStore],
        readers: Callable[[str], list[str]] | None = None,
        check_offline: Callable[[FeatureView], None] = lambda _: None,
    ) -> None:
        self._check_offline = check_offline
        self._views = views
        self._store_for = store_for
        self._stores: dict[str, OnlineStore] = {}
        self._readers = readers or (lambda _: [])

    def create(self, spec: Mapping[str, Any], *, team: str | None) -> FeatureView:
        view = parse_view(spec)
        self._store(view.source)  # an unknown scheme or a missing extra is refused before it is stored
        self._check_offline(view)  # in reach, and (when there) with the key, event time and features
        return self._views.create_view(view, team=team)

    def get(self, name: str) -> FeatureView:
        view = self._views.get_view(name)
        if view is None:
            raise BerthError(ErrorCode.ENTITY_TABLE_NOT_FOUND, f"feature view {name!r} not found", table=name)
        return view

    def list(self) -> list[FeatureView]:
        return self._views.list_views()

    def update(self, name: str, changes: Mapping[str, Any]) -> FeatureView:
        view = self.get(name).updated(changes)
        self._check_offline(view)
        return self._views.update_view(view)

    def delete(self, name: str) -> bool:
        readers = self._readers(name)
        if readers:
            raise BerthError(
                ErrorCode.CONFLICT,
                f"feature view {name!r} is read by endpoints {readers[:5]}: change them first",
                view=name,
            )
        return self._views.delete_view(name)

    def put(
        self, name: str, rows: Mapping[str, Any], *, at: float | Mapping[str, float] | None = None
    ) -> int:
        """Insert or replace the values of each key (at most 10,000 a call); a feature not given
        is removed from that entity (a row is written whole). `at`: the write time (now), or each
        key's (the materialize job's event times), recorded where the store keeps one."""
        view = self.get(name)
        if len(rows) > MAX_ROWS_PER_WRITE:
            raise BerthError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"at most {MAX_ROWS_PER_WRITE} entities per call, got {len(rows)}",
            )
        checked = {check_entity_key(k): view.check_row(k, v) for k, v in rows.items()}
        if isinstance(at, Mapping):
            at = {check_entity_key(k): t for k, t in at.items()}
        return self._store(view.source).write(view, checked, time.time() if at is None else at)

    async def read(self, name: str, keys: Sequence[str]) -> dict[str, StoredRow]:
        """The stored values of each key found (as they are: no TTL, miss or default applied)."""
        view = self.get(name)
        if len(keys) > MAX_KEYS_PER_READ:
            raise BerthError(ErrorCode.PAYLOAD_TOO_LARGE, f"at most {MAX_KEYS_PER_READ} keys per read")
        wanted = list(dict.fromkeys(check_entity_key(k) for k in keys))
        store = self._store(view.source)
        try:
            (found,) = await store.read([ViewRead(view, wanted, list(view.features))])
        finally:
            await store.aclose()  # the API's and the CLI's reads are few: no connection kept per loop
        return found

    def _store(self, source: str) -> OnlineStore:
        store = self._stores.get(source)
        if store is None:
            store = self._stores[source] = self._store_for(source)
        return store

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
