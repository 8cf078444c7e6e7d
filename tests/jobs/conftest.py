"""A workspace with the test job kinds, and a worker running in a thread of the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.control.jobs.batch_score import BATCH_SCORE
from berth.control.jobs.runner import Worker, WorkerConfig
from berth.control.jobs.service import JobService
from berth.control.jobs.triggers import TriggerEvaluator
from berth.core.jobs import Job
from berth.core.settings import Settings
from berth.storage.queries import now
from berth.storage.sql_jobs import SqlJobStore
from berth.wiring.job_kinds import JobKinds
from berth.wiring.workspace import Workspace, open_workspace
from tests.jobs.kinds import STEPS, install_test_kinds


@pytest.fixture
def kinds_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test kinds registered through a ``berth.jobs`` entry point, here and in child processes
    (those that import from this folder: the test puts it on ``PYTHONPATH``)."""
    folder = install_test_kinds(tmp_path / "kinds")
    monkeypatch.syspath_prepend(str(folder))
    return folder


@dataclass
class World:
    home: Path
    workspace: Workspace
    service: JobService

    @contextmanager
    def worker(self, name: str = "w1", **config: object) -> Iterator[threading.Event]:
        """A worker running in a thread until the block ends (then stopped gracefully)."""
        options = {"lease_s": 3.0, "poll_s": 0.05, "grace_s": 5.0} | config
        worker = Worker(
            self.service.store,
            self.service.kinds,
            self.workspace,
            self.home,
            WorkerConfig(name, **options),  # type: ignore[arg-type]
            TriggerEvaluator(self.service.store, None, now),
        )
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), name=f"worker-{name}")
        thread.start()
        try:
            yield stop
        finally:
            stop.set()
            thread.join(timeout=30)
            assert not thread.is_alive()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.02)

    def wait_for(self, job_id: int, done: Callable[[Job], bool], timeout: float = 60.0) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.service.get_job(job_id)
            if done(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job.status.value}: {job}")
            time.sleep(0.02)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    workspace = open_workspace(Settings(home=home))
    service = JobService(
        SqlJobStore(workspace.store.engine, retry_base_s=0.0), JobKinds([STEPS, BATCH_SCORE]), home=home
    )
    try:
        yield World(home, workspace, service)
    finally:
        workspace.close()
