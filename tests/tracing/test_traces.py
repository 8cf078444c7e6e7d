"""Traces through a real server, with OpenTelemetry's in-memory exporter in place of OTLP.

The server traces only what its callers sample (ratio 0), so each test's spans are exactly those
of the requests it sends with a sampled ``traceparent``: one trace id from the caller through the
endpoint, its steps and model, to its shadow copy; through gRPC; to a job run (a link) and to a
webhook receiver (its incoming ``traceparent``). Unsampled and malformed trace context costs
nothing and breaks nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tritonclient.grpc import InferenceServerClient, InferInput

import berth
from berth.control.alerts.destinations import DestinationPolicy, WebhookAllowList
from berth.control.alerts.evaluator import AlertEvaluator, Observation
from berth.control.alerts.rules import AlertRule, Metric
from berth.control.alerts.webhook import WebhookSender, new_secret
from berth.control.jobs.runner import Worker, WorkerConfig
from berth.core.settings import Settings
from berth.core.tracing import OFF, Tracing
from berth.wiring.tracing import exporting_to
from berth.wiring.workspace import open_workspace
from tests.conftest import Trained
from tests.support.servers import free_port, server_in_thread
from tests.support.webhooks import Receiver

LOOPBACK = DestinationPolicy(WebhookAllowList.parse("127.0.0.1"))
CUSTOMERS = {"c1": {"age": 30, "spend": 80.0}, "c2": {"age": 61, "spend": 12.5}}
INFER_ROUTE = "POST /v2/models/{name}/infer"


@dataclass
class Traced:
    url: str
    grpc: str
    home: Path
    settings: Settings
    spans: InMemorySpanExporter
    tracing: Tracing


def caller() -> tuple[str, str, str]:
    """A caller's sampled traceparent: (header, trace id, span id) in hex."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def of_trace(spans: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and f"{s.context.trace_id:032x}" == trace_id
    ]


def wait_for_span(
    spans: InMemorySpanExporter, trace_id: str, name: str, timeout: float = 30.0
) -> list[ReadableSpan]:
    """The trace's spans once one called `name` has ended."""
    deadline = time.monotonic() + timeout
    while not any(s.name == name for s in of_trace(spans, trace_id)):
        assert time.monotonic() < deadline, (
            f"no span {name!r} in {[s.name for s in of_trace(spans, trace_id)]}"
        )
        time.sleep(0.02)
    return of_trace(spans, trace_id)


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, frame_pipeline: Trained) -> Iterator[Traced]:
    home = tmp_path_factory.mktemp("tracing") / "home"
    for _ in range(2):
        berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    spans = InMemorySpanExporter()
    tracing = exporting_to(spans, sample_ratio=0.0, process="server", batch=False)
    grpc_port = free_port()
    settings = Settings(home=home, poll_interval_s=0.1, grpc_port=grpc_port, export_worker=False)
    with server_in_thread(settings, tracing=tracing) as url:
        entities = httpx.put(f"{url}/api/v1/entities/customers", json={"entities": CUSTOMERS})
        assert entities.status_code == 200, entities.text
        endpoint = {
            "name": "retention",
            "targets": [{"target": "churn:1"}],
            "shadows": [{"target": "churn:2", "fraction": 1.0}],
            "pipeline": {
                "pre": [
                    {
                        "type": "lookup",
                        "table": "customers",
                        "key": "customer_id",
                        "features": ["age", "spend"],
                    },
                    {"type": "select", "columns": ["plan", "age", "spend"]},
                ]
            },
        }
        created = httpx.post(f"{url}/api/v1/endpoints", json=endpoint, timeout=30)
        assert created.status_code == 201, created.text
        yield Traced(url, f"127.0.0.1:{grpc_port}", home, settings, spans, tracing)


def customers_request() -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "customer_id", "datatype": "BYTES", "shape": [2], "data": ["c1", "c2"]},
            {"name": "plan", "datatype": "BYTES", "shape": [2], "data": ["basic", "pro"]},
        ]
    }


def test_one_trace_from_the_caller_through_the_endpoint_to_its_shadow(traced: Traced) -> None:
    traceparent, trace_id, caller_span = caller()
    answer = httpx.post(
        f"{traced.url}/v2/models/retention/infer",
        json=customers_request(),
        headers={"traceparent": traceparent, "tracestate": "vendor=opaque"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    spans = wait_for_span(traced.spans, trace_id, "berth.shadow")
    [server] = named(spans, INFER_ROUTE)
    assert parent_of(server) == int(caller_span, 16)  # a child of the caller's span
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "/v2/models/{name}/infer"
    assert server.attributes["berth.endpoint"] == "retention"
    assert server.context is not None
    assert server.context.trace_state.get("vendor") == "opaque"
    [endpoint] = named(spans, "berth.endpoint")
    assert parent_of(endpoint) == span_id(server)
    steps = named(spans, "berth.step")
    assert sorted(str((s.attributes or {})["berth.step_type"]) for s in steps) == ["lookup", "select"]
    assert {parent_of(s) for s in steps} == {span_id(endpoint)}
    [lookup] = named(spans, "berth.lookup")
    assert (lookup.attributes or {})["berth.table"] == "customers"
    [shadow] = named(spans, "berth.shadow")
    assert parent_of(shadow) == span_id(endpoint)  # the copy continues the request's trace
    models = named(spans, "berth.model")
    by_parent = {parent_of(m): (m.attributes or {})["berth.model_version"] for m in models}
    assert by_parent == {span_id(endpoint): 1, span_id(shadow): 2}  # the primary, and the shadow's model


def test_a_traced_grpc_call_continues_the_callers_trace(traced: Traced, frame_pipeline: Trained) -> None:
    traceparent, trace_id, caller_span = caller()
    with InferenceServerClient(traced.grpc) as client:
        plan = InferInput("plan", [1], "BYTES")
        plan.set_data_from_numpy(np.array([b"pro"], dtype=object))
        age = InferInput("age", [1], "INT64")
        age.set_data_from_numpy(np.array([40], dtype=np.int64))
        spend = InferInput("spend", [1], "FP64")
        spend.set_data_from_numpy(np.array([12.0]))
        client.infer("churn", [plan, age, spend], headers={"traceparent": traceparent})
    spans = wait_for_span(traced.spans, trace_id, "inference.GRPCInferenceService/ModelInfer")
    [call] = named(spans, "inference.GRPCInferenceService/ModelInfer")
    assert parent_of(call) == int(caller_span, 16)
    assert (call.attributes or {})["rpc.system"] == "grpc"
    [model] = named(spans, "berth.model")
    assert parent_of(model) == span_id(call)


def test_a_management_route_is_named_by_its_template(traced: Traced) -> None:
    traceparent, trace_id, _ = caller()
    answer = httpx.get(f"{traced.url}/api/v1/models/churn", headers={"traceparent": traceparent})
    assert answer.status_code == 200
    [span] = wait_for_span(traced.spans, trace_id, "GET /api/v1/models/{name}")
    assert (span.attributes or {})["url.path"] == "/api/v1/models/churn"
    assert len((span.attributes or {})["berth.request_id"]) > 0


@pytest.mark.parametrize(
    "traceparent",
    [
        None,  # no caller context: the ratio (0 here) decides
        f"00-{'ab' * 16}-{'cd' * 8}-00",  # the caller did not sample it
        "00-not-a-trace-01",
        f"00-{'0' * 32}-{'cd' * 8}-01",  # an all-zero trace id is invalid
        f"ff-{'ab' * 16}-{'cd' * 8}-01",  # version ff is invalid
        f"00-{'ab' * 16}-{'cd' * 8}-01-extra",  # version 00 has exactly four fields
        "\u00ff" * 300,
    ],
)
def test_unsampled_and_malformed_trace_context_is_ignored(traced: Traced, traceparent: str | None) -> None:
    before = len(traced.spans.get_finished_spans())
    sent = {} if traceparent is None else {"traceparent": traceparent, "tracestate": "=,=bad"}
    headers = {k: v.encode("latin-1") for k, v in sent.items()}
    answer = httpx.post(
        f"{traced.url}/v2/models/churn/infer",
        json={
            "inputs": [
                {"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["pro"]},
                {"name": "age", "datatype": "INT64", "shape": [1], "data": [40]},
                {"name": "spend", "datatype": "FP64", "shape": [1], "data": [12.0]},
            ]
        },
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert httpx.get(f"{traced.url}/api/v1/models", headers=headers).status_code == 200
    assert len(traced.spans.get_finished_spans()) == before  # nothing traced, nothing broken


def test_a_job_run_links_to_the_request_that_enqueued_it(traced: Traced) -> None:
    traceparent, trace_id, _ = caller()
    enqueued = httpx.post(
        f"{traced.url}/api/v1/jobs",
        json={"kind": "records-export", "params": {"filters": {}, "max_bytes": 1_000_000}},
        headers={"traceparent": traceparent},
    )
    assert enqueued.status_code == 201, enqueued.text
    job = enqueued.json()
    [request] = wait_for_span(traced.spans, trace_id, "POST /api/v1/jobs")
    assert job["traceparent"] == f"00-{trace_id}-{span_id(request):016x}-01"  # the enqueuing request's span
    workspace = open_workspace(traced.settings)
    worker = Worker(
        workspace.jobs.store,
        workspace.jobs.kinds,
        workspace,
        traced.home,
        WorkerConfig("traced", kinds=("records-export",), poll_s=0.05),
        tracing=traced.tracing,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not [s for s in traced.spans.get_finished_spans() if s.name == "berth.job"]:
            assert time.monotonic() < deadline, "the job's span did not end"
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=30)
        workspace.close()
    [run] = [s for s in traced.spans.get_finished_spans() if s.name == "berth.job"]
    assert (run.attributes or {})["berth.job.id"] == job["id"]
    assert run.context is not None
    assert f"{run.context.trace_id:032x}" != trace_id
    [link] = run.links
    assert f"{link.context.trace_id:032x}" == trace_id  # linked to the request's
    assert link.context.span_id == span_id(request)


class _Firing:
    """A metric source under which every rule fires (the alert's data is not what is tested here)."""

    def observe(
        self,
        target: str,
        metric: Metric,
        window_s: int,
        now: datetime,
        *,
        view: str | None = None,
        feature: str | None = None,
    ) -> Observation:
        return Observation(1.0, 1000)


def test_a_webhook_call_carries_the_trace_it_was_made_in(tmp_path: Path) -> None:
    spans = InMemorySpanExporter()
    tracing = exporting_to(spans, sample_ratio=0.0, process="monitor", batch=False)
    receiver = Receiver()
    workspace = open_workspace(Settings(home=tmp_path / "home"))
    evaluator = AlertEvaluator(workspace.alerts, _Firing(), WebhookSender(policy=LOOPBACK, tracing=tracing))
    rule = {"name": "hot", "target": "churn", "metric": "error_rate", "op": ">", "threshold": 0.5}
    spec = AlertRule.from_json({**rule, "webhook_url": receiver.url, "secret": new_secret()})
    workspace.alerts.create_rule(spec.to_json(with_secret=True))
    traceparent, trace_id, _ = caller()
    entry = tracing.entry(traceparent)
    assert entry is not None
    try:
        with tracing.request("an evaluation round", entry, kind="internal"):
            [fired] = evaluator.evaluate_all(datetime.now(UTC))
        evaluator.close()  # the call was made on the evaluator's delivery thread
    finally:
        receiver.close()
        workspace.close()
    assert fired.kind == "fired"
    [(_, headers, _)] = receiver.calls
    [webhook] = named(of_trace(spans, trace_id), "berth.webhook")
    assert headers["traceparent"] == f"00-{trace_id}-{span_id(webhook):016x}-01"
    assert (webhook.attributes or {})["berth.webhook.event"] == "alert.fired"


def test_a_webhook_call_outside_a_trace_starts_one_and_without_tracing_sends_no_context() -> None:
    spans = InMemorySpanExporter()
    traced_sender = WebhookSender(
        policy=LOOPBACK, tracing=exporting_to(spans, sample_ratio=0.0, process="monitor", batch=False)
    )
    receiver = Receiver()
    try:
        assert traced_sender.send(receiver.url, new_secret(), "alert.fired", {}, message_id="m1").delivered
        assert (
            WebhookSender(policy=LOOPBACK, tracing=OFF)
            .send(receiver.url, new_secret(), "alert.fired", {}, message_id="m2")
            .delivered
        )
    finally:
        receiver.close()
    [(_, traced_headers, _), (_, plain_headers, _)] = receiver.calls
    [webhook] = spans.get_finished_spans()
    assert webhook.parent is None
    assert webhook.context is not None
    _, trace_id, parent_id, flags = traced_headers["traceparent"].split("-")
    assert (trace_id, parent_id) == (f"{webhook.context.trace_id:032x}", f"{webhook.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert "traceparent" not in plain_headers
