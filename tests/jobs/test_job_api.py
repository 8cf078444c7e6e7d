"""The job API of a real server: enqueue, read, list, cancel, triggers; bad input answered with a code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from berth.client.jobs import RemoteJobs
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.support.servers import server_in_thread


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("job-api") / "home"
    home.mkdir()
    (home / "in.csv").write_text("plan,age\nbasic,30\n")  # the input the jobs below name
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as base:
        yield base


def test_a_job_is_enqueued_read_listed_and_cancelled(url: str) -> None:
    body = {"kind": "batch-score", "params": {"model": "churn", "input": "in.csv"}, "priority": 3}
    created = httpx.post(f"{url}/api/v1/jobs", json=body)
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["status"], job["kind"], job["priority"], job["progress"]) == ("queued", "batch-score", 3, 0.0)
    assert job["params"]["output"] == "in.scored.csv"  # the kind filled in its defaults

    assert httpx.get(f"{url}/api/v1/jobs/{job['id']}").json()["id"] == job["id"]
    listed = httpx.get(f"{url}/api/v1/jobs", params={"status": "queued", "kind": "batch-score"}).json()
    assert job["id"] in [j["id"] for j in listed]

    cancelled = httpx.post(f"{url}/api/v1/jobs/{job['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = httpx.post(f"{url}/api/v1/jobs/{job['id']}/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "conflict")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "no-such-kind"}, 422, "unknown_job_kind"),
        ({"kind": "Bad Kind!"}, 422, "unknown_job_kind"),
        ({"kind": "batch-score", "params": {"model": "churn"}}, 422, "invalid_job_params"),
        ({"kind": "batch-score", "params": {"model": "m", "input": "../x.csv"}}, 422, "invalid_job_params"),
        (
            {"kind": "batch-score", "params": {"model": "m", "input": "absent.csv"}},
            422,
            "job_input_not_found",
        ),
        ({"kind": "batch-score", "params": []}, 400, "invalid_request"),
        ({"kind": "batch-score", "priority": 10**9}, 400, "invalid_request"),
        ({"params": {}}, 400, "invalid_request"),
    ],
)
def test_bad_jobs_are_refused_with_a_code(url: str, body: object, status: int, code: str) -> None:
    answer = httpx.post(f"{url}/api/v1/jobs", json=body)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text


def test_unknown_jobs_and_triggers_are_404(url: str) -> None:
    for path in ("/api/v1/jobs/999999", "/api/v1/jobs/triggers/nope"):
        answer = httpx.get(f"{url}{path}")
        assert answer.status_code == 404
        assert answer.json()["code"] in ("job_not_found", "trigger_not_found")
    assert httpx.post(f"{url}/api/v1/jobs/999999/cancel").json()["code"] == "job_not_found"


def test_triggers_through_the_client(url: str) -> None:
    jobs = RemoteJobs(url)
    try:
        params = {"model": "churn", "input": "in.csv"}
        added = jobs.add_trigger(
            {"name": "nightly", "kind": "batch-score", "params": params, "every_s": 86400}
        )
        assert (added["name"], added["every_s"], added["enabled"]) == ("nightly", 86400, True)
        assert "nightly" in [t["name"] for t in jobs.list_triggers()]
        with pytest.raises(BerthError) as twice:
            jobs.add_trigger({"name": "nightly", "kind": "batch-score", "params": params})
        assert twice.value.code is ErrorCode.ALREADY_EXISTS

        fired = jobs.fire_trigger("nightly", "by hand")
        assert (fired["trigger"], fired["reason"], fired["status"]) == ("nightly", "by hand", "queued")
        assert [j["id"] for j in jobs.list_jobs(trigger="nightly")] == [fired["id"]]

        assert jobs.set_trigger_enabled("nightly", False)["enabled"] is False
        with pytest.raises(BerthError) as disabled:
            jobs.fire_trigger("nightly")
        assert disabled.value.code is ErrorCode.CONFLICT
        jobs.delete_trigger("nightly")
        with pytest.raises(BerthError) as gone:
            jobs.delete_trigger("nightly")
        assert gone.value.code is ErrorCode.TRIGGER_NOT_FOUND

        with pytest.raises(BerthError) as unknown_kind:
            jobs.add_trigger({"name": "t2", "kind": "nope"})
        assert unknown_kind.value.code is ErrorCode.UNKNOWN_JOB_KIND
    finally:
        jobs.close()


def test_the_kinds_are_listed(url: str) -> None:
    kinds = httpx.get(f"{url}/api/v1/jobs/kinds").json()
    assert "batch-score" in [k["name"] for k in kinds]
