"""The monitoring, analyst and jobs pages against the JSON contracts of their APIs.

Those APIs are being built alongside this app, so here the browser's requests to them are
answered with contract-shaped bodies (Playwright routing; the page itself and every other call
go to the real server). Once the server provides them, tests with real data replace these.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, Request, Route, expect

from tests.ui.conftest import Site

BUCKETS = [f"2026-01-01T{h:02d}:00:00+00:00" for h in range(6)]
MONITOR: dict[str, Any] = {
    "name": "split",
    "window": {"start": BUCKETS[0], "end": "2026-01-01T06:00:00+00:00", "bucket_s": 3600},
    "buckets": BUCKETS,
    "traffic": {"series": {"lr:1": [5, 7, 0, 4, 6, 8], "lr:2": [4, 6, 1, 5, 5, 9]}},
    "latency": {
        "series": {
            "p50": [0.002, 0.003, None, 0.002, 0.002, 0.003],
            "p95": [0.006, 0.007, None, 0.005, 0.006, 0.008],
            "p99": [0.01, 0.02, None, 0.01, 0.01, 0.02],
        }
    },
    "accuracy": {
        "metric": "accuracy",
        "series": {"lr:1": [0.9, 0.88, None, 0.85, 0.8, 0.78], "lr:2": [None, 0.91, None, 0.9, 0.92, 0.9]},
        "overall": {"lr:1": {"n": 120, "value": 0.84}, "lr:2": {"n": 90, "value": 0.91}},
    },
    "drift": {
        "status": "drift",
        "features": [
            {
                "feature": f,
                "kind": "number",
                "test": "psi",
                "statistic": s,
                "p_value": None,
                "threshold": 0.2,
                "drifted": s > 0.2,
                "n_reference": 1000,
                "n_current": 300,
            }
            for f, s in (("age", 0.05), ("balance", 0.41), ("duration", 0.12))
        ],
        "drifted_share": 1 / 3,
    },
    "staleness": {"version_age_s": 3 * 86400.0, "data_age_s": None},
    "alerts": [{"rule": "drift-balance", "fired_at": BUCKETS[4], "message": "balance drifted (psi 0.41)"}],
}
EMPTY_MONITOR: dict[str, Any] = {
    "name": "quiet",
    "window": {"start": BUCKETS[0], "end": BUCKETS[5], "bucket_s": 3600},
    "buckets": [],
    "traffic": {"series": {}},
    "latency": {"series": {"p50": [], "p95": [], "p99": []}},
    "accuracy": {"metric": "accuracy", "series": {}, "overall": {}},
    "drift": {"status": "no_data", "features": [], "drifted_share": None},
    "staleness": {"version_age_s": None, "data_age_s": None},
    "alerts": [],
}


def _tensor(value: Any, datatype: str = "BYTES") -> dict[str, Any]:
    return {"datatype": datatype, "shape": [1], "data": [value]}


def _record(pid: str, text: str, category: str, feedback: str | None = None) -> dict[str, Any]:
    return {
        "prediction_id": pid,
        "recorded_at": "2026-01-01T10:00:00+00:00",
        "endpoint": "feedback-router",
        "model": "router",
        "version": 2,
        "variant": "router@production",
        "inputs": {"text": _tensor(text)},
        "model_inputs": None,
        "outputs": {"category": _tensor(category), "confidence": _tensor(0.8, "FP64")},
        "latency_s": 0.004,
        "entity_key": None,
        "feedback": None
        if feedback is None
        else {"label": feedback, "value": None, "observed_at": "2026-01-01T11:00:00+00:00"},
    }


def _json(route: Route, body: Any, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_the_monitoring_page_plots_every_part_of_the_contract(page: Page, site: Site) -> None:
    asked: list[str] = []

    def monitor(route: Route, request: Request) -> None:
        asked.append(request.url)
        _json(route, MONITOR)

    page.route("**/api/v1/monitor/**", monitor)
    page.goto(f"{site.url}/ui/#/monitor/split")
    accuracy_points = sum(v is not None for s in MONITOR["accuracy"]["series"].values() for v in s)
    expect(page.locator("#accuracy-chart svg circle.point")).to_have_count(accuracy_points)
    expect(page.locator("#accuracy-chart .legend li")).to_have_text(["lr:1", "lr:2"])
    latency_points = sum(v is not None for s in MONITOR["latency"]["series"].values() for v in s)
    expect(page.locator("#latency-chart svg circle.point")).to_have_count(latency_points)
    gaps = page.locator("#latency-chart svg path.line").first.get_attribute("d") or ""
    assert gaps.count("M") == 2, "a null bucket breaks the line"
    expect(page.locator("#traffic-chart svg rect.bar")).to_have_count(12)
    expect(page.locator("#drift-chart svg rect.bar")).to_have_count(3)
    expect(page.locator("#drift-chart svg rect.bar.highlight")).to_have_count(1)
    expect(page.locator("#drift-chart svg rect.highlight")).to_have_attribute("data-label", "balance")
    expect(page.locator("#drift-chart svg line.marker")).to_have_count(3)
    expect(page.locator("#monitor")).to_contain_text("Verdict: drift")
    expect(page.locator("#monitor")).to_contain_text("33.3 % of the features drifted")
    expect(page.locator("#alerts")).to_contain_text("balance drifted (psi 0.41)")
    expect(page.locator("#monitor")).to_contain_text("3.0 d")
    query = parse_qs(urlparse(asked[0]).query)
    assert set(query) == {"start", "end", "bucket_s"}
    assert query["bucket_s"] == ["3600"]


def test_an_empty_monitoring_window_says_no_data(page: Page, site: Site) -> None:
    page.route("**/api/v1/monitor/**", lambda route: _json(route, EMPTY_MONITOR))
    page.goto(f"{site.url}/ui/#/monitor/quiet")
    monitor = page.locator("#monitor")
    expect(monitor).to_contain_text("No accuracy in this window")
    expect(monitor).to_contain_text("No latency figures in this window.")
    expect(monitor).to_contain_text("No traffic in this window.")
    expect(monitor).to_contain_text("Verdict: no traffic in this window")
    expect(page.locator("#monitor svg")).to_have_count(0)


def test_the_analyst_corrects_a_category_in_one_click(page: Page, site: Site) -> None:
    listed: list[dict[str, list[str]]] = []
    sent: list[Any] = []

    def records(route: Route, request: Request) -> None:
        query = parse_qs(urlparse(request.url).query)
        listed.append(query)
        if query.get("cursor") == ["c2"]:
            _json(route, {"records": [_record("p3", "where is my money", "balance")], "next_cursor": None})
        else:
            page_one = [
                _record("p1", "my card was stolen", "balance"),
                _record("p2", "balance?", "balance", "balance"),
            ]
            _json(route, {"records": page_one, "next_cursor": "c2"})

    def feedback(route: Route, request: Request) -> None:
        sent.append(request.post_data_json)
        pid = sent[-1]["feedback"][0]["prediction_id"]
        _json(route, {"stored": 1, "unknown": [], "results": [{"prediction_id": pid, "status": "stored"}]})

    page.route("**/api/v1/records?**", records)
    page.route("**/api/v1/feedback", feedback)
    page.route(  # the version declares its classes (else: the labels seen are offered)
        "**/api/v1/models/router/versions/2",
        lambda route: _json(route, {"params": {"classes": ["balance", "card_lost", "transfer"]}}),
    )
    page.goto(f"{site.url}/ui/#/records")
    rows = page.locator("#records tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("text: my card was stolen")
    expect(rows.first.locator(".predicted")).to_contain_text("confidence: 0.8")
    expect(rows.nth(1).locator(".feedback")).to_contain_text("balance")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    assert listed[-1]["cursor"] == ["c2"]

    row = page.locator('tr[data-prediction-id="p1"]')
    row.get_by_role("combobox").select_option("card_lost")
    row.get_by_role("button", name="Correct").click()
    expect(row.locator(".feedback")).to_contain_text("stored")
    expect(row.locator(".feedback")).to_contain_text("card_lost")
    assert sent == [{"feedback": [{"prediction_id": "p1", "label": "card_lost"}]}]


def test_the_analyst_filters_are_sent_to_the_api(page: Page, site: Site) -> None:
    page.route("**/api/v1/records?**", lambda route: _json(route, {"records": [], "next_cursor": None}))
    page.goto(f"{site.url}/ui/#/records")
    expect(page.locator("#records-status")).to_contain_text("No predictions match these filters.")
    page.get_by_label("Endpoint").fill("feedback-router")
    page.get_by_label("Version").fill("2")
    page.get_by_label("Feedback").select_option("false")
    with page.expect_request("**/api/v1/records?**") as asked:
        page.get_by_role("button", name="Show").click()
    query = parse_qs(urlparse(asked.value.url).query)
    assert query == {
        "endpoint": ["feedback-router"],
        "version": ["2"],
        "has_feedback": ["false"],
        "limit": ["50"],
    }


def test_a_correction_for_an_unknown_prediction_is_shown(page: Page, site: Site) -> None:
    page.route(
        "**/api/v1/records?**",
        lambda route: _json(route, {"records": [_record("gone", "hello", "balance")], "next_cursor": None}),
    )
    page.route(
        "**/api/v1/feedback",
        lambda route: _json(
            route,
            {
                "stored": 0,
                "unknown": ["gone"],
                "results": [{"prediction_id": "gone", "status": "unknown_prediction"}],
            },
        ),
    )
    page.goto(f"{site.url}/ui/#/records")
    page.get_by_role("button", name="✓ Right").click()
    expect(page.get_by_role("alert")).to_contain_text("not stored: unknown_prediction")


def test_jobs_show_progress_and_refresh_while_one_runs(page: Page, site: Site) -> None:
    calls: list[int] = []
    running = {
        "id": "7",
        "kind": "retrain",
        "status": "running",
        "progress": 0.4,
        "progress_message": "training the challenger",
        "created_at": BUCKETS[0],
        "started_at": BUCKETS[0],
        "finished_at": None,
        "error": None,
    }
    finished = running | {
        "status": "succeeded",
        "progress": 1.0,
        "progress_message": "promoted",
        "finished_at": BUCKETS[1],
    }

    def jobs(route: Route) -> None:
        calls.append(1)
        _json(route, {"jobs": [running if len(calls) == 1 else finished]})

    page.clock.install()
    page.route("**/api/v1/jobs", jobs)
    page.goto(f"{site.url}/ui/#/jobs")
    bar = page.get_by_role("progressbar", name="Progress of job 7")
    expect(bar).to_have_js_property("value", 0.4)
    expect(page.locator("#jobs")).to_contain_text("training the challenger")
    page.clock.run_for(2100)
    expect(page.locator("#jobs")).to_contain_text("succeeded")
    expect(bar).to_have_js_property("value", 1)
    page.clock.run_for(10_000)
    assert len(calls) == 2, "no refresh once no job runs"


def test_the_voice_page_labels_category_team_and_confidence(page: Page, site: Site) -> None:
    answer = {
        "model_name": "feedback-classifier",
        "model_version": "3",
        "id": "req-1",
        "outputs": [
            {"name": "category", "datatype": "BYTES", "shape": [1], "data": ["card_lost"]},
            {"name": "team", "datatype": "BYTES", "shape": [1], "data": ["card-security"]},
            {"name": "confidence", "datatype": "FP64", "shape": [1], "data": [0.87]},
        ],
    }
    page.route("**/v2/models/feedback-router/infer", lambda route: _json(route, answer))
    page.goto(f"{site.url}/ui/#/voice")
    page.get_by_label("Tell us about your experience").fill("I lost my card abroad")
    page.get_by_role("button", name="Send").click()
    outputs = page.locator("#voice-outputs")
    expect(outputs.locator("dt")).to_have_text(["Category", "Team", "Confidence"])
    expect(outputs.locator("dd")).to_have_text(["card_lost", "card-security", "87.0 %"])
    expect(page.locator("#voice-answer")).to_contain_text("reference req-1")
