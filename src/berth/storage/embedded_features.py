"""The ``embedded:`` feature source: a view's values in the registry database's entity table of
the same name (`SqlEntityStore`), read in the I/O threads, one query per view and request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from berth.core.features import FeatureView
from berth.storage.feature_protocols import StoredRow, ViewRead
from berth.storage.sql_entities import SqlEntityStore


class EmbeddedFeatures:
    def __init__(self, entities: SqlEntityStore, io_executor: Executor | None = None) -> None:
        self._entities = entities
        self._io = io_executor

    async def read(self, reads: Sequence[ViewRead]) -> list[dict[str, StoredRow]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._read_all, list(reads))

    def _read_all(self, reads: list[ViewRead]) -> list[dict[str, StoredRow]]:
        answers = []
        for read in reads:
            rows = self._entities.get_entity_rows(read.view.name, read.keys)
            answers.append({key: StoredRow(values, at) for key, (values, at) in rows.items()})
        return answers

    def write(
        self, view: FeatureView, rows: Mapping[str, Mapping[str, Any]], at: float | Mapping[str, float]
    ) -> int:
        # the entity table keeps its own write time (the database's clock): `at` is not recorded
        return self._entities.put_entities(view.name, rows, team=None)

    async def warm(self) -> None:
        pass  # the home's database: its connections are the workspace's

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass
