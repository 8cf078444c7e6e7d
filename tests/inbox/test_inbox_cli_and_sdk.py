"""``berth inbox …`` and ``berth.inbox(...)`` on a home (``--home``) and a server (``--url``): the
messages of records ingested into the registry, acknowledged and rerouted (with its feedback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import berth
from berth.core.records import IngestBatch, PredictionRecord
from berth.core.settings import Settings
from berth.storage.sql_records import SqlRecordStore
from tests.cli.test_registry_commands import ok, ok_json, run
from tests.conftest import Trained
from tests.inbox.conftest import ENDPOINT, populate
from tests.support.servers import server_in_thread

TEXTS = {
    "p1": ("my card was stolen", "card_lost", "card-security"),
    "p2": ("what is my balance", "balance", "accounts"),
}


def ingest(home: Path) -> None:
    """Two answered predictions of the endpoint, as the ingester stores them (twice: once stored)."""
    records = [
        PredictionRecord(
            prediction_id=pid,
            recorded_at=datetime.now(UTC),
            endpoint=ENDPOINT,
            model=f"{ENDPOINT}-model",
            version=2,
            variant="",
            inputs={"text": {"datatype": "BYTES", "shape": [1], "data": [text]}},
            outputs={
                "category": {"datatype": "BYTES", "shape": [1], "data": [category]},
                "team": {"datatype": "BYTES", "shape": [1], "data": [team]},
                "confidence": {"datatype": "FP64", "shape": [1], "data": [0.9]},
            },
            latency_s=0.01,
            record_key=f"p:{ENDPOINT}/{pid}",
        )
        for pid, (text, category, team) in TEXTS.items()
    ]
    store = SqlRecordStore(Settings(home=home).resolved_database_url)
    try:
        store.ingest(IngestBatch(records=records))
        store.ingest(IngestBatch(records=records))  # a redelivered batch gives no second message
    finally:
        store.close()


@pytest.fixture(params=["home", "url"])
def where(
    request: pytest.FixtureRequest, tmp_path: Path, text_pipeline: Trained
) -> Iterator[tuple[str, str]]:
    home = tmp_path / "home"
    populate(home, text_pipeline)
    ingest(home)
    if request.param == "home":
        yield "--home", str(home)
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield "--url", url


def test_the_cli_lists_acknowledges_and_reroutes(where: tuple[str, str]) -> None:
    table = ok("inbox", "list", "card-security", *where)
    assert "my card was stolen" in table
    assert "card_lost" in table
    assert "what is my balance" not in table
    page = ok_json("inbox", "list", "card-security", "--json", *where)
    assert len(page["messages"]) == 1
    message = page["messages"][0]
    assert message["key"] == f"{ENDPOINT}/p1#0"
    assert message["label"] == "card_lost"

    assert "acknowledged message" in ok("inbox", "ack", "card-security", str(message["id"]), *where)
    assert ok_json("inbox", "list", "card-security", "--open", "--json", *where)["messages"] == []

    no_label = run("inbox", "reroute", "card-security", str(message["id"]), "--to", "accounts", *where)
    assert no_label.exit_code == 1
    assert "name the right category" in str(no_label.exception)
    out = ok(
        "inbox",
        "reroute",
        "card-security",
        str(message["id"]),
        "--to",
        "accounts",
        "--label",
        "balance",
        *where,
    )
    assert "rerouted message" in out
    assert "feedback 'balance' sent" in out
    again = run(
        "inbox", "reroute", "card-security", str(message["id"]), "--to", "accounts", "--label", "x", *where
    )
    assert again.exit_code == 1
    assert "already rerouted" in str(again.exception)
    missing = run("inbox", "ack", "accounts", "999999", *where)
    assert missing.exit_code == 1
    assert "no message 999999" in str(missing.exception)

    accounts = ok_json("inbox", "list", "accounts", "--json", *where)["messages"]
    assert {m["prediction_id"] for m in accounts} == {"p1", "p2"}
    assert [m["rerouted_from"] for m in accounts if m["prediction_id"] == "p1"] == ["card-security"]
    shown = ok_json("records", "show", "p1", *where)
    assert shown["records"][0]["feedback"]["label"] == "balance"

    refused = run("inbox", "settings", "accounts", "--webhook", "http://127.0.0.1:9/hook", *where)
    assert refused.exit_code == 1
    assert "not a public address" in str(refused.exception)
    subject = ok_json("inbox", "settings", "accounts", "--nats-subject", "accounts", *where)
    assert subject["nats_subject"] == "accounts"
    assert ok_json("inbox", "settings", "accounts", *where)["nats_subject"] == "accounts"


def test_the_sdk_lists_acknowledges_and_reroutes(where: tuple[str, str]) -> None:
    flag, value = where
    inbox = berth.inbox(home=value) if flag == "--home" else berth.inbox(url=value)
    try:
        [message] = inbox.list("card-security")["messages"]
        assert message["inputs"] == {"text": "my card was stolen"}
        assert inbox.get("card-security", message["id"])["id"] == message["id"]
        assert inbox.acknowledge("card-security", message["id"])["acknowledged_at"] is not None
        answer = inbox.reroute("card-security", message["id"], to="accounts", label="balance")
        assert answer["feedback"]["sent"] is True
        assert answer["rerouted"]["team"] == "accounts"
        with pytest.raises(berth.BerthError) as missing:
            inbox.get("accounts", message["id"])  # the original stays card-security's
        assert missing.value.code is berth.ErrorCode.MESSAGE_NOT_FOUND
        with pytest.raises(berth.BerthError) as nowhere:
            inbox.list("no-such-team")
        assert nowhere.value.code is berth.ErrorCode.INVALID_REQUEST
    finally:
        inbox.close()
