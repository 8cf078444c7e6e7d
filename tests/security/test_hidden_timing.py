"""A private name of another team costs what a missing name costs: both reload the access table
(rate-limited) before answering NOT_FOUND, so the time of the answer does not reveal that a
private name exists. Counted, not timed: the reloads each answer made."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import berth
from berth.core.access import Action, Role
from berth.core.errors import BerthError
from berth.core.security import AccessSnapshot
from berth.core.settings import Settings
from berth.server.auth.access_cache import AccessCache
from berth.server.auth.permissions import Guard
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained


class CountingStore(SqlSecurityStore):
    loads = 0

    def access_snapshot(self) -> AccessSnapshot:
        self.loads += 1
        return super().access_snapshot()


def _reloads_for(guard: Guard, cache: AccessCache, store: CountingStore, name: str) -> tuple[int, str]:
    beta = cache.principal("bob")
    cache._last_load = 0.0  # the last load is long past: the next miss may reload
    before = store.loads
    with pytest.raises(BerthError) as refused:
        asyncio.run(guard.check_model(beta, Action.PREDICT, name))
    return store.loads - before, refused.value.code.value


def test_a_private_name_reloads_the_table_like_a_missing_one(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="secret", home=home, team="alpha")
    store = CountingStore(Settings(home=home).resolved_database_url)
    with ThreadPoolExecutor(1) as executor:
        try:
            store.create_team("beta")
            store.set_member("beta", "bob", Role.PREDICTOR)
            cache = AccessCache(store, executor, refresh_s=0.5)
            cache.load_now()
            guard = Guard(cache)
            hidden = _reloads_for(guard, cache, store, "secret")
            missing = _reloads_for(guard, cache, store, "never-pushed")
        finally:
            store.close()
    assert hidden == missing == (1, "model_not_found")
