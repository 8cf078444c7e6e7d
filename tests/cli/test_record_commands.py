"""``berth records …``, ``berth feedback …``, ``berth monitor`` and ``berth alert …`` on a home
(``--home``) and a server (``--url``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from berth.core.errors import ErrorCode
from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.cli.test_registry_commands import berth_error, ok, ok_json, run
from tests.records.builders import ingest, record
from tests.support.servers import server_in_thread


@pytest.fixture(params=["home", "url"])
def where(request: pytest.FixtureRequest, tmp_path: Path, model_files: ModelFiles) -> Iterator[list[str]]:
    home = tmp_path / "home"
    ok("push", model_files.churn_skops, "--name", "router", "--home", home)
    settings = Settings(home=home, poll_interval_s=0.1)
    ingest(settings.resolved_database_url, [record(n, entity=f"c{n % 3}") for n in range(6)])
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(settings) as url:
        yield ["--url", url]


def test_list_feedback_export_and_erase(where: list[str], tmp_path: Path) -> None:
    page = ok_json("records", "list", "--endpoint", "router", "--limit", "3", "--json", *where)
    assert [r["prediction_id"] for r in page["records"]] == ["p5", "p4", "p3"]
    table = ok("records", "list", "--endpoint", "router", *where)
    assert "p5" in table
    assert "PREDICTION_ID" in table

    out = ok("feedback", "send", "p5", "--label", "b", *where)
    assert "stored 1, unknown 0" in out
    items = tmp_path / "truth.csv"
    items.write_text("prediction_id,label\np1,a\np2,b\nmissing,a\n")
    partly = run("feedback", "import", items, *where)  # the known ids stored, then "not found"
    assert "stored 2, unknown 1" in partly.stdout
    assert "unknown prediction id: missing" in partly.stdout
    assert berth_error(partly).code is ErrorCode.RECORD_NOT_FOUND
    shown = ok_json("records", "show", "p2", *where)
    assert shown["records"][0]["feedback"]["label"] == "b"

    target = tmp_path / "out.parquet"
    out = ok("records", "export", "--endpoint", "router", "--out", target, *where)
    assert "exported 6 records" in out
    assert pq.read_table(target).num_rows == 6

    out = ok("records", "delete", "--entity", "c1", "--yes", *where)
    assert "2 records" in out
    left = ok_json("records", "list", "--entity", "c1", "--json", *where)
    assert left["records"] == []


def test_monitor_and_alert_rules(where: list[str]) -> None:
    out = ok("monitor", "router", "--since", "3650d", *where)
    assert "traffic: 6 answered" in out
    view = ok_json("monitor", "router", "--since", "3650d", "--json", *where)
    assert sum(view["traffic"]["series"]["clf:1"]) == 6
    rule = {"name": "slow", "target": "router", "metric": "latency_p95_s", "op": ">", "threshold": 0.5}
    ok("alert", "add", json.dumps(rule), *where)
    listed = ok("alert", "list", *where)
    assert "slow" in listed
    assert "latency_p95_s" in listed
    ok("alert", "delete", "slow", *where)
    assert "slow" not in ok("alert", "list", *where)


def test_list_needs_review_offers_records_without_feedback_uncertain_first(where: list[str]) -> None:
    """The records here hold no probability: every one without feedback is offered, newest first,
    and one with feedback is not (a correction of it would teach nothing new)."""
    ok("feedback", "send", "p4", "--label", "b", *where)
    page = ok_json("records", "list", "--endpoint", "router", "--needs-review", "--json", *where)
    assert [r["prediction_id"] for r in page["records"]] == ["p5", "p3", "p2", "p1", "p0"]
    first = ok_json(
        "records", "list", "--endpoint", "router", "--needs-review", "--limit", "2", "--json", *where
    )
    assert first["next_cursor"] == "review-2"
