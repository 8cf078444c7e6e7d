"""``berth endpoint …`` and ``berth entities put`` on a home (``--home``) and a server (``--url``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from berth.cli.main import cli
from berth.core.errors import ErrorCode
from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.cli.test_registry_commands import berth_error, ok, ok_json, run
from tests.support.servers import server_in_thread


@pytest.fixture(params=["home", "url"])
def where(request: pytest.FixtureRequest, tmp_path: Path, model_files: ModelFiles) -> Iterator[list[str]]:
    home = tmp_path / "home"
    for alias in ("production", "staging", "spare"):
        ok("push", model_files.churn_skops, "--name", "churn", "--alias", alias, "--home", home)
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield ["--url", url]


def test_create_change_canary_and_roll_back(where: list[str]) -> None:
    out = ok(
        "endpoint",
        "create",
        "retention",
        "--target",
        "churn@production=90",
        "--target",
        "churn:2=10",
        "--sticky-header",
        "x-customer-id",
        "--reason",
        "launch",
        *where,
    )
    assert out.strip() == "endpoint retention revision 1: churn@production=90, churn:2=10"

    out = ok("endpoint", "weights", "retention", "churn@production=50", "churn:2=50", *where)
    assert out.strip() == "endpoint retention revision 2: churn@production=50, churn:2=50"
    out = ok("endpoint", "canary", "retention", "churn:3", "--steps", "5,20", "--interval", "600", *where)
    assert "canary churn:3 at 5%" in out
    ok("endpoint", "rollback", "retention", *where)  # removes the canary
    ok("endpoint", "rollback", "retention", *where)  # undoes the weights change

    shown = ok_json("endpoint", "show", "retention", *where)
    history = ok_json("endpoint", "history", "retention", "--json", *where)
    listed = ok("endpoint", "list", *where)

    assert shown["targets"] == [
        {"target": "churn@production", "weight": 90.0},
        {"target": "churn:2", "weight": 10.0},
    ]
    assert shown["sticky"] == {"header": "x-customer-id"}
    assert [e["kind"] for e in history] == ["create", "update", "canary_start", "canary_rollback", "rollback"]
    assert history[0]["reason"] == "launch"
    assert "retention" in listed


def test_set_a_whole_spec_with_a_pipeline(where: list[str], tmp_path: Path) -> None:
    ok("endpoint", "create", "scoring", "--target", "churn", *where)
    spec = {
        "targets": [{"target": "churn@staging"}],
        "pipeline": {
            "post": [{"type": "map", "column": "predict", "into": "team", "mapping": {"stay": "growth"}}]
        },
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))

    out = ok("endpoint", "set", "scoring", "--spec", f"@{tmp_path / 'spec.json'}", "--revision", "1", *where)
    stale = run(
        "endpoint", "set", "scoring", "--spec", f"@{tmp_path / 'spec.json'}", "--revision", "1", *where
    )

    assert out.strip() == "endpoint scoring revision 2: churn@staging=1"
    assert berth_error(stale).code is ErrorCode.CONFLICT


def test_invalid_endpoints_are_refused_with_their_code(where: list[str]) -> None:
    assert berth_error(run("endpoint", "create", "x", "--target", "ghost@production", *where)).code is (
        ErrorCode.INVALID_ENDPOINT
    )
    assert berth_error(run("endpoint", "create", "x", "--target", "churn=0", *where)).code is (
        ErrorCode.INVALID_ENDPOINT
    )
    assert berth_error(run("endpoint", "rollback", "ghost", *where)).code is ErrorCode.ENDPOINT_NOT_FOUND
    assert run("endpoint", "create", "x", "--target", "churn=heavy", *where).exit_code == 2


def test_entities_from_a_csv(where: list[str], tmp_path: Path) -> None:
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text("customer_id,age,segment,balance\nc1,41,gold,10.5\nc2,23,,\n")

    out = ok("entities", "put", "customers", csv_file, "--key", "customer_id", *where)
    missing = run("entities", "put", "customers", csv_file, "--key", "nope", *where)

    assert out.strip() == "wrote 2 entities to customers"
    assert berth_error(missing).code is ErrorCode.INVALID_REQUEST


def test_stats_come_from_a_server(where: list[str]) -> None:
    if where[0] == "--home":
        assert CliRunner().invoke(cli, ["endpoint", "stats", "x"], env={"BERTH_URL": ""}).exit_code == 2
        return
    ok("endpoint", "create", "counted", "--target", "churn", *where)
    body = {
        "inputs": [
            {"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["pro"]},
            {"name": "age", "datatype": "INT64", "shape": [1], "data": [40]},
            {"name": "spend", "datatype": "FP64", "shape": [1], "data": [55.0]},
        ]
    }
    assert httpx.post(f"{where[1]}/v2/models/counted/infer", json=body).status_code == 200

    lines = ok("endpoint", "stats", "counted", *where).splitlines()

    assert lines[0].split() == ["VARIANT", "PERIOD", "REQUESTS", "ERRORS", "P50_MS", "P99_MS"]
    assert [line.split()[:4] for line in lines[1:3]] == [
        ["churn:1", "recent", "1", "0"],
        ["churn:1", "total", "1", "0"],
    ]
