"""Monitoring over a real server: traffic, latency, accuracy from feedback, drift against the
version's reference profile; alert rules firing a signed webhook, retried when it fails."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import numpy as np
import pytest

import berth
from berth.control.alerts.destinations import DestinationPolicy, WebhookAllowList
from berth.control.alerts.evaluator import AlertEvaluator
from berth.control.alerts.rules import Metric
from berth.control.alerts.webhook import WebhookSender
from berth.core.records import PredictionRecord
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace
from tests.conftest import Trained
from tests.records.builders import ingest
from tests.support.servers import server_in_thread
from tests.support.webhooks import verify_standard_webhook

LOOPBACK = DestinationPolicy(WebhookAllowList.parse("127.0.0.1"))
NOW = datetime.now(UTC).replace(microsecond=0)


def _records(x: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any]) -> list[PredictionRecord]:
    return [
        PredictionRecord(
            prediction_id=f"m{i}",
            recorded_at=NOW - timedelta(seconds=len(x) - i),
            endpoint="clf",
            model="clf",
            version=1,
            variant="",
            inputs={
                "input-0": {"datatype": "FP32", "shape": [1, x.shape[1]], "data": [float(v) for v in row]}
            },
            outputs={"predict": {"datatype": "INT64", "shape": [1], "data": [int(predicted[i])]}},
            latency_s=0.001 + 0.0001 * (i % 10),
        )
        for i, row in enumerate(x)
    ]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test receivers listen on loopback, which webhooks reach only when an operator allows it."""
    return settings.model_copy(update={"webhook_allow": "127.0.0.1"})


@pytest.fixture
def monitored(settings: Settings, lr: Trained) -> Iterator[str]:
    """`clf` pushed with a reference profile; 300 answers of the last minutes whose first feature
    is shifted by 3 standard deviations; feedback for the first 200."""
    berth.push(lr.model, name="clf", input_example=lr.x[:5], reference=lr.x, home=settings.home)
    shifted = lr.x[:300].copy()
    shifted[:, 0] += 3 * lr.x[:, 0].std()
    ingest(settings.resolved_database_url, _records(shifted, lr.model.predict(shifted)))
    with server_in_thread(settings) as url:
        answer = httpx.post(
            f"{url}/api/v1/feedback",
            json={"feedback": [{"prediction_id": f"m{i}", "label": str(int(lr.y[i]))} for i in range(200)]},
        )
        assert answer.json()["stored"] == 200
        yield url


def test_the_monitoring_view_has_traffic_latency_accuracy_and_drift_on_the_shifted_feature_only(
    monitored: str,
) -> None:
    start = (NOW - timedelta(hours=1)).isoformat()
    view = httpx.get(f"{monitored}/api/v1/monitor/clf", params={"start": start, "bucket_s": 600}, timeout=60)
    assert view.status_code == 200, view.text
    body = view.json()
    assert sum(body["traffic"]["series"]["clf:1"]) == 300
    assert len(body["buckets"]) == len(body["latency"]["series"]["p95"])
    assert any(v is not None for v in body["latency"]["series"]["p99"])
    accuracy = body["accuracy"]
    assert accuracy["metric"] == "accuracy"
    assert accuracy["overall"]["clf:1"]["n"] == 200
    assert 0.0 <= accuracy["overall"]["clf:1"]["value"] <= 1.0
    drift = {f["feature"]: f for f in body["drift"]["features"]}
    assert drift["input-0[0]"]["drifted"]
    assert body["drift"]["drifted_share"] < 0.5  # one feature of twenty: no dataset drift
    assert body["staleness"]["version_age_s"] >= 0


def test_an_empty_window_says_no_data(monitored: str) -> None:
    view = httpx.get(
        f"{monitored}/api/v1/monitor/clf",
        params={"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"},
    ).json()
    assert view["drift"]["status"] == "no_data"
    assert view["accuracy"]["overall"] == {}
    assert view["traffic"]["series"] == {}


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"bucket_s": "1"},
    ],
)
def test_malformed_monitoring_windows_are_400(monitored: str, params: dict[str, str]) -> None:
    answer = httpx.get(f"{monitored}/api/v1/monitor/clf", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"


def test_monitoring_an_unknown_name_is_404(monitored: str) -> None:
    assert httpx.get(f"{monitored}/api/v1/monitor/nope").status_code == 404


class Receiver:
    """A webhook receiver on a free port: records what it gets, or answers 503 `failures` times."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 503 if len(receiver.calls) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_drift_rule_fires_once_with_a_signed_webhook_retried_until_delivered(
    monitored: str, settings: Settings
) -> None:
    receiver = Receiver(failures=2)
    waits: list[float] = []
    try:
        rule = {
            "name": "clf-drift",
            "target": "clf",
            "metric": "drift_share",
            "op": ">",
            "threshold": 0.01,
            "window_s": 3600,
            "min_samples": 30,
            "webhook_url": receiver.url,
        }
        created = httpx.post(f"{monitored}/api/v1/alerts/rules", json=rule)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert "secret" not in httpx.get(f"{monitored}/api/v1/alerts/rules/clf-drift").json()
        workspace = open_workspace(settings)
        evaluator = AlertEvaluator(
            workspace.alerts,
            workspace.monitor,
            WebhookSender(first_backoff_s=0.01, sleep=waits.append, policy=LOOPBACK),
        )
        try:
            fired = evaluator.evaluate_all(datetime.now(UTC))
            again = evaluator.evaluate_all(datetime.now(UTC))
        finally:
            evaluator.close()
            workspace.close()
        assert [t.kind for t in fired] == ["fired"]
        assert again == []  # still firing: not repeated
        assert len(receiver.calls) == 3
        assert waits == [0.01, 0.02]  # exponential back-off between the attempts
        headers, body = receiver.calls[-1]
        assert verify_standard_webhook(secret, body, headers)
        assert len({h["webhook-id"] for h, _ in receiver.calls}) == 1  # one id for every retry
        assert not verify_standard_webhook("whsec_" + "A" * 44, body, headers)
        events = httpx.get(f"{monitored}/api/v1/alerts/events", params={"target": "clf"}).json()["events"]
        assert events[0]["kind"] == "fired"
        assert events[0]["delivery"]["delivered"] is True
        assert events[0]["delivery"]["attempts"] == 3
        state = httpx.get(f"{monitored}/api/v1/alerts/rules/clf-drift").json()
        assert state["state"] == "firing"
    finally:
        receiver.close()


def test_two_monitors_evaluating_at_once_fire_a_rule_once(monitored: str, settings: Settings) -> None:
    """Monitors run N times (`berth serve --role monitor`): each evaluates every rule, and the
    rule's compare-and-set lets exactly one of them fire it, whatever the interleaving."""
    rule = {
        "name": "clf-drift-twice",
        "target": "clf",
        "metric": "drift_share",
        "op": ">",
        "threshold": 0.01,
        "window_s": 3600,
        "min_samples": 30,
    }
    assert httpx.post(f"{monitored}/api/v1/alerts/rules", json=rule).status_code == 201
    workspaces = [open_workspace(settings) for _ in range(2)]
    evaluators = [AlertEvaluator(w.alerts, w.monitor, None) for w in workspaces]
    start = threading.Barrier(2)
    fired: list[str] = []

    def evaluate(evaluator: AlertEvaluator) -> None:
        start.wait()
        now = datetime.now(UTC)
        fired.extend(t.kind for t in evaluator.evaluate_all(now) if t.rule == "clf-drift-twice")

    threads = [threading.Thread(target=evaluate, args=(e,)) for e in evaluators]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for evaluator, workspace in zip(evaluators, workspaces, strict=True):
            evaluator.close()
            workspace.close()

    assert fired == ["fired"]
    events = httpx.get(f"{monitored}/api/v1/alerts/events", params={"rule": "clf-drift-twice"}).json()
    assert [e["kind"] for e in events["events"]] == ["fired"]


def test_a_webhook_that_times_out_is_given_up_after_its_attempts() -> None:
    waits: list[float] = []
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        sender = WebhookSender(
            timeout_s=0.2, attempts=3, first_backoff_s=0.5, sleep=waits.append, policy=LOOPBACK
        )
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        delivery = sender.send(url, "whsec_" + "A" * 44, "alert.fired", {"x": 1}, message_id="m1")
    finally:
        silent.close()
    assert not delivery.delivered
    assert delivery.status is None
    assert delivery.attempts == 3
    assert waits == [0.5, 1.0]


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "r", "target": "clf", "metric": "nope", "threshold": 1},
        {"name": "r", "target": "clf", "metric": "accuracy", "threshold": "high"},
        {"name": "r", "target": "clf", "metric": "accuracy", "threshold": 0.5, "op": "!="},
        {"name": "R!", "target": "clf", "metric": "accuracy", "threshold": 0.5},
        {"name": "r", "target": "clf", "metric": "accuracy", "threshold": 0.5, "webhook_url": "ftp://x"},
        {
            "name": "r",
            "target": "clf",
            "metric": "accuracy",
            "threshold": 0.5,
            "webhook_url": "http://x/h",
            "secret": "s" * 20,
        },
        {
            "name": "r",
            "target": "clf",
            "metric": "accuracy",
            "threshold": 0.5,
            "webhook_url": "http://u:p@x/h",
        },
        {"name": "r", "target": "clf", "metric": "accuracy", "threshold": 0.5, "window_s": 1},
    ],
)
def test_malformed_rules_are_400(monitored: str, rule: dict[str, Any]) -> None:
    answer = httpx.post(f"{monitored}/api/v1/alerts/rules", json=rule)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"


def test_the_servers_monitor_process_evaluates_rules_by_itself(settings: Settings, lr: Trained) -> None:
    berth.push(lr.model, name="clf", input_example=lr.x[:5], reference=lr.x, home=settings.home)
    shifted = lr.x[:300].copy()
    shifted[:, 0] += 3 * lr.x[:, 0].std()
    ingest(settings.resolved_database_url, _records(shifted, lr.model.predict(shifted)))
    receiver = Receiver()
    rule = {
        "name": "clf-drift",
        "target": "clf",
        "metric": "drift_share",
        "op": ">",
        "threshold": 0.01,
        "webhook_url": receiver.url,
    }
    monitor = berth.monitor(home=settings.home)
    try:
        secret = monitor.add_rule(rule)["secret"]
    finally:
        monitor.close()
    try:
        with server_in_thread(settings.model_copy(update={"alert_interval_s": 0.5})) as url:
            deadline = time.monotonic() + 60
            while not receiver.calls and time.monotonic() < deadline:
                time.sleep(0.2)
            assert receiver.calls, "the monitor process never called the webhook"
            headers, body = receiver.calls[0]
            assert headers["berth-event"] == "alert.fired"
            assert verify_standard_webhook(secret, body, headers)
            state = httpx.get(f"{url}/api/v1/alerts/rules/clf-drift").json()
            assert state["state"] == "firing"
    finally:
        receiver.close()


def test_failed_requests_are_journaled_and_give_the_error_rate(settings: Settings, lr: Trained) -> None:
    berth.push(lr.model, name="clf", input_example=lr.x[:5], home=settings.home)
    with server_in_thread(settings) as url:
        good = {
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 20], "data": lr.x[0].tolist()}]
        }
        bad = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
        for _ in range(6):
            assert httpx.post(f"{url}/v2/models/clf/infer", json=good).status_code == 200
        for _ in range(2):
            assert httpx.post(f"{url}/v2/models/clf/infer", json=bad).status_code == 400
        assert httpx.post(f"{url}/v2/models/nobody/infer", json=good).status_code == 404
        start = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        deadline = time.monotonic() + 60
        while True:  # the journal reaches the database within the ingestion delay
            view = httpx.get(f"{url}/api/v1/monitor/clf", params={"start": start}).json()
            errors = {code: sum(counts) for code, counts in view["errors"]["series"].items()}
            answered = sum(sum(counts) for counts in view["traffic"]["series"].values())
            if (errors, answered) == ({"signature_mismatch": 2}, 6) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert errors == {"signature_mismatch": 2}
        assert answered == 6
    workspace = open_workspace(settings)
    try:
        seen = workspace.monitor.observe("clf", Metric.ERROR_RATE, 3600, datetime.now(UTC))
    finally:
        workspace.close()
    assert seen.value == pytest.approx(2 / 8)
    assert seen.samples == 8
