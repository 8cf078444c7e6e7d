"""Real ``berth worker`` processes: a job runs to completion with its progress visible through the
API; two workers on PostgreSQL run each of 20 jobs exactly once; a worker killed with SIGKILL
mid-job has its job requeued after the lease and finished by another; SIGTERM gives the job back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import berth
from berth.control.jobs.service import JobService
from berth.core.jobs import JobQuery, JobStatus, NewJob
from berth.core.settings import Settings
from berth.storage.sql_jobs import SqlJobStore
from berth.wiring.job_kinds import JobKinds
from tests.conftest import Trained
from tests.jobs.kinds import STEPS, runs_of
from tests.jobs.processes import worker_process
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import berth_executable, free_port, server_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def service(home: Path) -> Iterator[JobService]:
    """The jobs of `home`'s database, as the test sees them."""
    store = SqlJobStore(Settings(home=home).resolved_database_url)
    yield JobService(store, JobKinds([STEPS]))
    store.close()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_worker_runs_a_job_with_progress_seen_through_the_api(
    home: Path, kinds_folder: Path, frame_pipeline: Trained
) -> None:
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    frame_pipeline.x.head(40).to_csv(home / "customers.csv", index=False)
    with (
        server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url,
        worker_process(home, kinds_folder),
    ):
        job = httpx.post(
            f"{url}/api/v1/jobs", json={"kind": "test-steps", "params": {"steps": 40, "step_s": 0.05}}
        )
        assert job.status_code == 201, job.text
        job_url = f"{url}/api/v1/jobs/{job.json()['id']}"
        seen: list[float] = []

        def progressed() -> bool:
            view = httpx.get(job_url).json()
            if view["status"] == "running" and 0 < view["progress"] < 1:
                seen.append(view["progress"])
            return bool(view["status"] == "succeeded")

        wait_until(progressed)
        assert seen, "no progress was seen while the job ran"
        assert seen == sorted(seen)
        assert httpx.get(job_url).json()["result"]["steps"] == 40

        # the built-in kind through the command line, against the server
        run = _berth(
            "job",
            "run",
            "batch-score",
            "--param",
            "model=churn",
            "--param",
            "input=customers.csv",
            "--param",
            "chunk_rows=10",
            "--url",
            url,
        )
        job_id = int(run.split()[1])
        wait_until(lambda: httpx.get(f"{url}/api/v1/jobs/{job_id}").json()["status"] == "succeeded")
        shown = _berth("job", "show", str(job_id), "--url", url)
        assert "succeeded" in shown
        assert "100.0%" in shown
        assert "scored 40 of 40 rows" in shown
    assert (home / "customers.scored.csv").exists()


def test_two_workers_on_postgresql_run_each_of_20_jobs_once(home: Path, kinds_folder: Path) -> None:
    with fresh_postgres_database() as database_url:
        store = SqlJobStore(database_url)
        try:
            ids = [store.enqueue(NewJob("test-steps", {"steps": 3, "step_s": 0.02})).id for _ in range(20)]
            args = ("--database-url", database_url, "--concurrency", "2")
            with (
                worker_process(home, kinds_folder, *args) as first,
                worker_process(home, kinds_folder, *args) as second,
            ):
                wait_until(lambda: all(store.get_job(i).status.finished for i in ids))
                assert first.terminate() == 0
                assert second.terminate() == 0
            jobs = [store.get_job(i) for i in ids]
        finally:
            store.close()
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs)
    assert all(j.attempts == 1 for j in jobs)
    assert [runs_of(home, i) for i in ids] == [1] * 20  # each ran exactly once


def test_a_killed_workers_job_is_requeued_and_finished_by_another(
    home: Path, kinds_folder: Path, service: JobService
) -> None:
    job = service.enqueue(NewJob("test-steps", {"steps": 40, "step_s": 0.05}))
    with worker_process(home, kinds_folder, "--lease", "2") as doomed:
        wait_until(lambda: service.get_job(job.id).progress > 0)
        doomed.kill()
    assert service.get_job(job.id).status is JobStatus.RUNNING  # nobody knows yet
    with worker_process(home, kinds_folder, "--lease", "2") as rescuer:
        wait_until(lambda: service.get_job(job.id).status.finished)
        done = service.get_job(job.id)
        assert rescuer.terminate() == 0
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
    assert done.result["pid"] == rescuer.process.pid
    assert runs_of(home, job.id) == 2


def test_sigterm_gives_a_long_job_back_to_the_queue(
    home: Path, kinds_folder: Path, service: JobService
) -> None:
    job = service.enqueue(NewJob("test-steps", {"steps": 10_000, "step_s": 0.01}))
    with worker_process(home, kinds_folder, "--grace", "0.5") as worker:
        wait_until(lambda: service.get_job(job.id).progress > 0)
        assert worker.terminate() == 0
    back = service.get_job(job.id)
    assert (back.status, back.claimed_by, back.attempts) == (JobStatus.QUEUED, None, 0)
    assert "given back to the queue" in worker.log.read_text()
    assert service.list_jobs(JobQuery(status=JobStatus.RUNNING)) == []


def _berth(*args: str) -> str:
    done = subprocess.run(
        [berth_executable(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_worker_answers_probes_on_its_health_port(home: Path, kinds_folder: Path) -> None:
    port = free_port()
    with worker_process(home, kinds_folder, "--health-port", str(port)) as worker:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(f"{url}/v2/health/ready") == 200)
        assert _status(f"{url}/v2/health/live") == 200
        assert _status(f"{url}/readyz") == 200
        assert _status(f"{url}/nothing") == 404
        assert worker.terminate() == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/v2/health/live", timeout=2)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None
