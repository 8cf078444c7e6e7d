"""Work done in separate processes by the multi-process tests (importable by spawned children)."""

from __future__ import annotations

from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


def open_and_push(url: str, pushes: int) -> list[int]:
    """Open the store (migrating the database if needed) and push `pushes` versions of 'churn'."""
    store = SqlRegistryStore(url)
    try:
        return [
            store.create_version("churn", new_version(content=f"{i}".encode())).number for i in range(pushes)
        ]
    finally:
        store.close()


def claim_all(url: str, worker: str) -> list[int]:
    """Claim and finish jobs until none is left; the ids this process claimed."""
    from berth.storage.sql_jobs import SqlJobStore

    store = SqlJobStore(url)
    claimed = []
    try:
        while (job := store.claim(worker, None, 30.0)) is not None:
            claimed.append(job.id)
            store.finish(job.id, worker, {"by": worker})
        return claimed
    finally:
        store.close()
