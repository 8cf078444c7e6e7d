"""A "retrain every N corrections" trigger through a real server and a real ``berth worker``: the
analyst's corrections arrive through ``POST /api/v1/feedback``; the worker fires the trigger's job
once N arrived, never a second one while that job is queued or running, and the next one once it
ended (the corrections that arrived meanwhile counted)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.core.settings import Settings
from tests.jobs.processes import worker_process
from tests.jobs.test_worker_process import wait_until
from tests.records.builders import ingest, record
from tests.support.servers import server_in_thread

pytestmark = pytest.mark.slow

TRIGGER = "retrain-on-fixes"
LONG = {"steps": 10_000, "step_s": 0.05}
"""The trigger's job: runs until cancelled (a retrain that takes its time)."""


@pytest.fixture
def site(tmp_path: Path, kinds_folder: Path) -> Iterator[httpx.Client]:
    """Nine answered predictions of endpoint ``router`` (p0…p8), a server and a worker (three slots:
    the trigger's job, a second one were it wrongly fired, and the witnesses) on the same home."""
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home, poll_interval_s=0.1)
    ingest(settings.resolved_database_url, [record(n) for n in range(9)])
    with (
        server_in_thread(settings) as url,
        worker_process(home, kinds_folder, "--concurrency", "3"),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def _correct(client: httpx.Client, *ids: str) -> None:
    items = [{"prediction_id": pid, "label": "right"} for pid in ids]
    answer = client.post("/api/v1/feedback", json={"feedback": items})
    assert answer.json()["stored"] == len(ids), answer.text


def _run(client: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    job = client.post("/api/v1/jobs", json={"kind": "test-steps", "params": params})
    assert job.status_code == 201, job.text
    return dict(job.json())


def _job(client: httpx.Client, job_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/jobs/{job_id}").json())


def _polled(client: httpx.Client) -> None:
    """Wait until the worker has evaluated the triggers after this call: a job enqueued now is run
    at a poll that began after the call, twice over (the first may be claimed by a poll that
    evaluated just before)."""
    for _ in range(2):
        witness = _run(client, {"steps": 1, "step_s": 0.1})
        wait_until(lambda w=witness: _job(client, w["id"])["status"] == "succeeded")


def _fired(client: httpx.Client) -> list[dict[str, Any]]:
    """The trigger's jobs, oldest first."""
    jobs = client.get("/api/v1/jobs", params={"trigger": TRIGGER}).json()
    return sorted(jobs, key=lambda j: int(j["id"]))


def _until(check: Callable[[], bool]) -> None:
    wait_until(check, timeout=60)


def test_fires_after_n_corrections_and_not_while_its_job_is_pending(site: httpx.Client) -> None:
    added = site.post(
        "/api/v1/jobs/triggers",
        json={
            "name": TRIGGER,
            "kind": "test-steps",
            "params": LONG,
            "corrections_endpoint": "router",
            "corrections_count": 3,
        },
    )
    assert added.status_code == 201, added.text

    _correct(site, "p0", "p1")
    _polled(site)
    assert _fired(site) == []  # 2 of 3

    _correct(site, "p2")
    _until(lambda: len(_fired(site)) == 1)
    first = _fired(site)[0]
    assert first["reason"] == "3 new corrections for router"
    _until(lambda: _job(site, first["id"])["status"] == "running")

    _correct(site, "p3", "p4", "p5")  # due again, but its job still runs
    _polled(site)
    assert [j["id"] for j in _fired(site)] == [first["id"]]

    assert site.post(f"/api/v1/jobs/{first['id']}/cancel").status_code == 200
    _until(lambda: len(_fired(site)) == 2)
    second = _fired(site)[1]
    assert second["reason"] == "3 new corrections for router"  # those that came while it ran
    assert _job(site, first["id"])["status"] == "cancelled"
