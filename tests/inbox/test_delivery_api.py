"""Delivery to teams through a real server with authentication on: a real webhook receiver that
fails the first attempts, retries with back-off, at-least-once delivery that a receiver de-duplicates
to exactly once by the key, answers that never wait, and the team inbox's rights across teams."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from berth.core.settings import Settings
from tests.conftest import Trained
from tests.inbox.conftest import ENDPOINT, populate, predict, wait_for
from tests.support.servers import server_in_thread
from tests.support.webhooks import verify_standard_webhook


class FlakyReceiver:
    """A webhook receiver that answers 503 to the first `failures` calls of each message key (the
    first of all waits until `gate` opens), then 200; it keeps every call."""

    def __init__(self, failures: int) -> None:
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        self.gate = threading.Event()
        self.first_call = threading.Event()
        seen: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                key = headers.get("webhook-id", "")
                seen[key] = seen.get(key, 0) + 1
                if not receiver.first_call.is_set():
                    receiver.first_call.set()
                    receiver.gate.wait(4)  # the deliverer's call hangs here; answers must not
                status = 503 if seen[key] <= failures else 200
                receiver.calls.append((headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered_once(self, secret: str) -> dict[str, dict[str, Any]]:
        """What a receiver that drops duplicates by ``webhook-id`` keeps: key -> message."""
        kept: dict[str, dict[str, Any]] = {}
        for headers, body, status in self.calls:
            if status == 200 and verify_standard_webhook(secret, body, headers):
                kept.setdefault(headers["webhook-id"], orjson.loads(body))
        return kept

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class World:
    url: str
    home: Path
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", headers=self.auth(who), timeout=30, **kwargs)

    def inbox(self, who: str, team: str, **params: Any) -> dict[str, Any]:
        answer = self.call(who, "GET", f"/api/v1/teams/{team}/inbox", params=params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, text_pipeline: Trained) -> Iterator[World]:
    home = tmp_path_factory.mktemp("inbox") / "home"
    tokens = populate(home, text_pipeline)
    settings = Settings(
        home=home,
        poll_interval_s=0.1,
        auth="tokens",
        webhook_allow="127.0.0.1",  # the test's receivers listen on loopback
        delivery_interval_s=0.05,
        delivery_backoff_s=0.1,
        delivery_attempts=4,
    )
    with server_in_thread(settings) as url:
        yield World(url, home, tokens)


def messages(world: World, team: str, who: str = "root") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = world.inbox(who, team)["messages"]
    return found


def test_messages_reach_the_webhook_once_per_key_after_retries_and_answers_never_wait(world: World) -> None:
    receiver = FlakyReceiver(failures=2)
    try:
        put = world.call(
            "root", "PUT", "/api/v1/teams/card-security/inbox/settings", json={"webhook_url": receiver.url}
        )
        assert put.status_code == 200, put.text
        secret = put.json()["webhook_secret"]
        assert secret.startswith("whsec_")
        assert (
            "webhook_secret"
            not in world.call("dave", "GET", "/api/v1/teams/card-security/inbox/settings").json()
        )

        first = predict(world.url, "my card was stolen", headers=world.auth("root"))
        assert receiver.first_call.wait(90), "the deliverer never called the receiver"
        # the receiver holds the deliverer's call: answers are given meanwhile, at once
        more = [
            predict(world.url, t, headers=world.auth("root"))
            for t in ("lost my card yesterday", "card missing please block")
        ]
        assert not receiver.gate.is_set()
        receiver.gate.set()
        ids = [a.headers["berth-prediction-id"] for a in (first, *more)]
        keys = {f"{ENDPOINT}/{pid}#0" for pid in ids}

        def all_delivered() -> list[dict[str, Any]]:
            ms = [m for m in messages(world, "card-security") if m["key"] in keys]
            return ms if len(ms) == 3 and all(m["status"] == "delivered" for m in ms) else []

        delivered = wait_for("three delivered messages", all_delivered)
        assert {m["attempts"] for m in delivered} == {3}  # two 503s, then 200
        assert {m["delivered_to"] for m in delivered} == {"webhook"}
        kept = receiver.delivered_once(secret)
        assert set(kept) == keys  # exactly once per key, after de-duplication
        assert sum(1 for _, _, status in receiver.calls if status == 503) == 6  # retries happened
        one = kept[f"{ENDPOINT}/{ids[0]}#0"]
        assert one["team"] == "card-security"
        assert one["answer"]["category"] == "card_lost"
        assert one["inputs"] == {"text": "my card was stolen"}
    finally:
        receiver.gate.set()
        world.call("root", "PUT", "/api/v1/teams/card-security/inbox/settings", json={})
        receiver.close()


def test_a_message_that_keeps_failing_is_dead_lettered_and_visible(world: World) -> None:
    receiver = FlakyReceiver(failures=100)
    receiver.first_call.set()
    try:
        put = world.call(
            "bob", "PUT", "/api/v1/teams/accounts/inbox/settings", json={"webhook_url": receiver.url}
        )
        assert put.status_code == 403  # settings are the team admin's (MANAGE)
        put = world.call(
            "root", "PUT", "/api/v1/teams/accounts/inbox/settings", json={"webhook_url": receiver.url}
        )
        assert put.status_code == 200, put.text
        pid = predict(world.url, "what is my balance", headers=world.auth("root")).headers[
            "berth-prediction-id"
        ]
        dead = wait_for(
            "a dead letter",
            lambda: [
                m
                for m in world.inbox("bob", "accounts", status="dead")["messages"]
                if m["prediction_id"] == pid
            ],
        )
        assert dead[0]["attempts"] == 4
        assert dead[0]["last_error"] == "webhook: HTTP 5xx"
        assert len(receiver.calls) == 4
    finally:
        world.call("root", "PUT", "/api/v1/teams/accounts/inbox/settings", json={})
        receiver.close()


def test_internal_destinations_and_bad_subjects_are_refused(world: World) -> None:
    for body in (
        {"webhook_url": "http://10.1.2.3/hook"},
        {"webhook_url": "http://169.254.169.254/latest"},
        {"webhook_url": "ftp://example.com/x"},
        {"nats_subject": "berth.records.BERTH_RECORDS"[:0] + "a b"},
        {"nats_subject": ">"},
    ):
        answer = world.call("root", "PUT", "/api/v1/teams/accounts/inbox/settings", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["code"] == "invalid_request"


def test_another_team_gets_nothing(world: World) -> None:
    pid = predict(world.url, "card missing please block", headers=world.auth("root")).headers[
        "berth-prediction-id"
    ]
    message = wait_for(
        "the message",
        lambda: [m for m in messages(world, "card-security", "dave") if m["prediction_id"] == pid],
    )[0]
    base = "/api/v1/teams/card-security/inbox"
    for who in ("bob", "erin"):
        assert world.call(who, "GET", base).status_code == 403
        assert world.call(who, "GET", f"{base}/{message['id']}").status_code == 403
        assert world.call(who, "GET", f"{base}/settings").status_code == 403
        assert world.call(who, "POST", f"{base}/{message['id']}/ack").status_code == 403
        assert (
            world.call(
                who, "POST", f"{base}/{message['id']}/reroute", json={"to": "accounts", "label": "balance"}
            ).status_code
            == 403
        )
    # from bob's own team's path, card-security's message is a missing one
    own = world.call("bob", "POST", f"/api/v1/teams/accounts/inbox/{message['id']}/ack")
    missing = world.call("bob", "POST", "/api/v1/teams/accounts/inbox/999999999/ack")
    assert own.status_code == missing.status_code == 404
    assert own.json()["code"] == missing.json()["code"] == "message_not_found"
    assert own.json()["error"].replace(str(message["id"]), "N") == missing.json()["error"].replace(
        "999999999", "N"
    )
    assert all(m["prediction_id"] != pid for m in messages(world, "accounts", "bob"))
    assert httpx.get(f"{world.url}{base}", timeout=10).status_code == 401


def test_acknowledge_needs_the_predictor_role_and_is_idempotent(world: World) -> None:
    pid = predict(world.url, "lost my card yesterday", headers=world.auth("root")).headers[
        "berth-prediction-id"
    ]
    message = wait_for(
        "the message",
        lambda: [m for m in messages(world, "card-security", "dave") if m["prediction_id"] == pid],
    )[0]
    path = f"/api/v1/teams/card-security/inbox/{message['id']}/ack"
    assert world.call("dave", "POST", path).status_code == 403  # a reader reads
    first = world.call("carol", "POST", path)
    assert first.status_code == 200, first.text
    assert first.json()["acknowledged_by"] == "carol"
    again = world.call("alice", "POST", path).json()
    assert again["acknowledged_by"] == "carol"
    assert again["acknowledged_at"] == first.json()["acknowledged_at"]
    assert all(
        m["id"] != message["id"]
        for m in world.inbox("dave", "card-security", acknowledged="false")["messages"]
    )


def test_a_reroute_is_a_correction_and_a_delivery_to_the_new_team(world: World) -> None:
    pid = predict(world.url, "card missing please block", headers=world.auth("root")).headers[
        "berth-prediction-id"
    ]
    message = wait_for(
        "the message",
        lambda: [m for m in messages(world, "card-security", "alice") if m["prediction_id"] == pid],
    )[0]
    path = f"/api/v1/teams/card-security/inbox/{message['id']}/reroute"
    assert world.call("carol", "POST", path, json={"to": "accounts", "label": "balance"}).status_code == 403
    no_label = world.call("alice", "POST", path, json={"to": "accounts"})
    assert no_label.status_code == 400
    assert "category" in no_label.json()["error"]
    nowhere = world.call("alice", "POST", path, json={"to": "no-such-team", "label": "balance"})
    assert nowhere.status_code == 400
    done = world.call("alice", "POST", path, json={"to": "accounts", "label": "balance"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["feedback"] == {"sent": True, "label": "balance", "prediction_id": pid}
    assert body["message"]["rerouted_to"] == "accounts"
    assert world.call("alice", "POST", path, json={"to": "accounts", "label": "balance"}).status_code == 409
    # the correction is the prediction's feedback, where retraining reads it
    record = world.call("root", "GET", f"/api/v1/records/{pid}").json()["records"][0]
    assert record["feedback"]["label"] == "balance"
    assert record["feedback"]["source"] == "inbox-reroute:alice"
    # and the message is in the new team's inbox, delivered there
    moved = wait_for(
        "the rerouted message",
        lambda: [
            m
            for m in messages(world, "accounts", "bob")
            if m["prediction_id"] == pid and m["status"] == "delivered"
        ],
    )[0]
    assert moved["rerouted_from"] == "card-security"
    assert moved["key"] == f"{message['key']}>accounts"
    assert moved["delivered_to"] == "inbox"
    # the copy carries the correction beside the model's answer, and shows the corrected label
    assert moved["correction"] == {"label": "balance", "team": "accounts"}
    assert moved["label"] == "balance"
    assert moved["answer"] == message["answer"]
    assert message["correction"] is None


def test_the_deliver_field_is_validated(world: World) -> None:
    spec = world.call("root", "GET", f"/api/v1/endpoints/{ENDPOINT}").json()
    assert spec["deliver"] == {"by": "team", "label": "category"}
    for bad, code in (
        ({"by": ""}, "invalid_request"),
        ({"by": "te am"}, "invalid_endpoint"),
        ({"by": "team", "to": "x"}, "invalid_request"),
    ):
        body = {"targets": spec["targets"], "pipeline": spec["pipeline"], "deliver": bad}
        answer = world.call("root", "PUT", f"/api/v1/endpoints/{ENDPOINT}", json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == code
