"""``berth job …`` and ``berth trigger …`` on a home (``--home``) and a server (``--url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.core.errors import ErrorCode
from berth.core.settings import Settings
from tests.cli.test_registry_commands import berth_error, ok, ok_json, run
from tests.support.servers import server_in_thread


@pytest.fixture(params=["home", "url"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "in.csv").write_text("plan,age\nbasic,30\n")  # the input the jobs name
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield ["--url", url]


def test_run_list_show_and_cancel_a_job(where: list[str]) -> None:
    out = ok(
        "job",
        "run",
        "batch-score",
        "--param",
        "model=churn",
        "--param",
        "input=data/in.csv",
        "--param",
        "chunk_rows=50",
        "--reason",
        "monthly",
        *where,
    )
    assert out.startswith("job ")
    assert out.strip().endswith("queued (batch-score)")
    job_id = out.split()[1]

    listed = ok("job", "list", *where)
    assert job_id in listed
    assert "batch-score" in listed
    shown = ok("job", "show", job_id, *where)
    assert "queued" in shown
    assert "[" + "." * 30 + "]   0.0%" in shown  # the progress bar, empty
    as_json = ok_json("job", "show", job_id, "--json", *where)
    assert as_json["params"]["chunk_rows"] == 50
    assert as_json["reason"] == "monthly"

    assert ok("job", "cancel", job_id, *where).strip() == f"job {job_id} cancelled"
    assert ok_json("job", "list", "--status", "cancelled", "--json", *where)[0]["id"] == int(job_id)


def test_bad_jobs_are_refused(where: list[str]) -> None:
    assert berth_error(run("job", "run", "no-such-kind", *where)).code is ErrorCode.UNKNOWN_JOB_KIND
    bad = run("job", "run", "batch-score", "--param", "input=../x.csv", "--param", "model=m", *where)
    assert berth_error(bad).code is ErrorCode.INVALID_JOB_PARAMS
    absent = run("job", "run", "batch-score", "--param", "input=absent.csv", "--param", "model=m", *where)
    assert berth_error(absent).code is ErrorCode.JOB_INPUT_NOT_FOUND  # at enqueue, not when it runs
    assert berth_error(run("job", "show", "4242", *where)).code is ErrorCode.JOB_NOT_FOUND


def test_triggers(where: list[str]) -> None:
    out = ok(
        "trigger",
        "add",
        "nightly",
        "batch-score",
        "--param",
        "model=churn",
        "--param",
        "input=data/in.csv",
        "--every",
        "86400",
        *where,
    )
    assert out.strip() == "trigger nightly added (batch-score)"
    ok(
        "trigger",
        "add",
        "on-fixes",
        "batch-score",
        "--param",
        "model=churn",
        "--param",
        "input=a.csv",
        "--on-corrections",
        "feedback-router=500",
        "--disabled",
        *where,
    )
    listed = ok("trigger", "list", *where)
    assert "every 86400s" in listed
    assert "500 corrections of feedback-router" in listed

    fired = ok("trigger", "fire", "nightly", "--reason", "by hand", *where)
    assert fired.strip().endswith("queued (batch-score)")
    assert ok_json("job", "list", "--trigger", "nightly", "--json", *where)[0]["reason"] == "by hand"

    assert berth_error(run("trigger", "fire", "on-fixes", *where)).code is ErrorCode.CONFLICT  # disabled
    ok("trigger", "enable", "on-fixes", *where)
    ok("trigger", "disable", "nightly", *where)
    states = {t["name"]: t["enabled"] for t in ok_json("trigger", "list", "--json", *where)}
    assert states == {"nightly": False, "on-fixes": True}
    ok("trigger", "delete", "nightly", *where)
    assert berth_error(run("trigger", "delete", "nightly", *where)).code is ErrorCode.TRIGGER_NOT_FOUND
    bad = run("trigger", "add", "x", "batch-score", "--on-corrections", "no-count", *where)
    assert bad.exit_code == 2
