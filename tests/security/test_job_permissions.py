"""Jobs and triggers are the platform administrators': team members, even maintainers, are refused."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import World

JOB = {"kind": "batch-score", "params": {"model": "alpha-model", "input": "in.csv"}}


@pytest.mark.parametrize("who", ["alice", "dave", "bob", "erin"])
def test_team_members_may_not_touch_jobs(world: World, who: str) -> None:
    calls = [
        ("POST", "/api/v1/jobs", JOB),
        ("GET", "/api/v1/jobs", None),
        ("GET", "/api/v1/jobs/triggers", None),
        ("POST", "/api/v1/jobs/triggers", {"name": "t", **JOB}),
    ]
    for method, path, body in calls:
        answer = httpx.request(method, f"{world.url}{path}", json=body, headers=world.auth(who))
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), (method, path)


def test_an_admin_enqueues_reads_and_cancels_a_job(world: World) -> None:
    created = httpx.post(f"{world.url}/api/v1/jobs", json=JOB, headers=world.auth("root"))
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["created_by"] == "root"
    path = f"{world.url}/api/v1/jobs/{job['id']}"
    assert httpx.get(path, headers=world.auth("root")).json()["status"] == "queued"
    assert httpx.get(path, headers=world.auth("alice")).status_code == 403
    cancelled = httpx.post(f"{path}/cancel", headers=world.auth("root"))
    assert cancelled.json()["status"] == "cancelled"
