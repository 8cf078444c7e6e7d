"""The Voice, analyst, monitoring and jobs pages on real data: predictions made through the
`feedback-router` endpoint of a real `berth serve`, recorded and ingested, corrected in the analyst
page, monitored, and a real job run by a real `berth worker`. Nothing is stubbed in the browser."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.jobs.processes import worker_process
from tests.ui.conftest import Site

ENDPOINT = "feedback-router"
# far from the reference texts (banking cards and balances): the text feature drifts
UNSEEN = "why was i charged twice for the transfer to my landlord yesterday evening"


def predict(site: Site, text: str, entity_key: str | None = None) -> str:
    """One prediction through the endpoint; its prediction id."""
    headers = {"berth-entity-key": entity_key} if entity_key else {}
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}]}
    answer = httpx.post(f"{site.url}/v2/models/{ENDPOINT}/infer", json=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.headers["berth-prediction-id"]


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """Poll `probe` until it answers something truthy (records reach the database ~0.2 s later)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def record(site: Site, prediction_id: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{site.url}/api/v1/records/{prediction_id}", timeout=10)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    records: list[dict[str, Any]] = answer.json()["records"]
    return records[0]


def ingested(site: Site, ids: list[str]) -> None:
    for pid in ids:
        wait_for(f"the record of {pid}", lambda pid=pid: record(site, pid))


def test_the_voice_page_shows_the_routed_category_and_team(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/voice")
    page.get_by_label("Tell us about your experience").fill("somebody stole my card, please block it")
    page.get_by_role("button", name="Send").click()
    outputs = page.locator("#voice-outputs")
    expect(outputs.locator("dt")).to_have_text(["Category", "Team", "Confidence"])
    expect(outputs.locator("dd").nth(0)).to_have_text("card_lost")
    expect(outputs.locator("dd").nth(1)).to_have_text("card-security")
    expect(outputs.locator("dd").nth(2)).to_have_text(re.compile(r"^\d{1,3}\.\d %$"))
    expect(page.locator("#voice-answer")).to_contain_text("Answered by router version 2")
    reference = page.locator("#voice-answer").text_content() or ""
    pid = reference.rsplit("reference ", 1)[1].strip()
    stored = wait_for("the Voice's message in the records", lambda: record(site, pid))
    assert stored["inputs"]["text"]["data"] == ["somebody stole my card, please block it"]
    assert stored["outputs"]["team"]["data"] == ["card-security"]


def test_the_analyst_corrects_a_wrong_category_in_one_click(page: Page, site: Site) -> None:
    wrong = predict(site, "what is my balance, my card")  # a card problem, read as...
    other = predict(site, "lost my card yesterday")
    ingested(site, [wrong, other])
    made = record(site, wrong)
    assert made is not None
    predicted = made["outputs"]["category"]["data"][0]
    correction = "balance" if predicted == "card_lost" else "card_lost"

    page.goto(f"{site.url}/ui/#/records")
    row = page.locator(f'tr[data-prediction-id="{wrong}"]')
    expect(row).to_contain_text("text: what is my balance, my card")
    expect(row.locator(".predicted")).to_contain_text(predicted)
    expect(row.locator(".predicted")).to_contain_text("team: ")
    expect(row.locator(".feedback")).to_have_text("—")
    row.get_by_role("combobox").select_option(correction)
    row.get_by_role("button", name="Correct").click()
    expect(row.locator(".feedback")).to_contain_text("stored")
    expect(row.locator(".feedback")).to_contain_text(correction)

    stored = record(site, wrong)
    assert stored is not None
    assert stored["feedback"]["label"] == correction
    page.reload()  # the correction is what the API now answers (newest first: with feedback too)
    page.get_by_label("Order").select_option("newest")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(f'tr[data-prediction-id="{wrong}"] .feedback')).to_contain_text(correction)


def test_the_analyst_pages_through_records_newest_first(page: Page, site: Site) -> None:
    ids = [predict(site, f"show account balance number {i}", entity_key="pager") for i in range(3)]
    ingested(site, ids)
    page.goto(f"{site.url}/ui/#/records")
    page.get_by_label("Endpoint").fill(ENDPOINT)
    page.get_by_label("Feedback").select_option("false")
    page.get_by_label("Order").select_option("newest")
    with page.expect_request("**/api/v1/records?**") as asked:
        page.get_by_role("button", name="Show").click()
    query = parse_qs(urlparse(asked.value.url).query)
    assert query == {"endpoint": [ENDPOINT], "has_feedback": ["false"], "limit": ["50"]}
    rows = page.locator("#records tbody tr")
    expect(rows.first).to_have_attribute("data-prediction-id", ids[-1])  # newest first
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.predictionId)")
    assert shown.index(ids[2]) < shown.index(ids[1]) < shown.index(ids[0])


def test_a_correction_of_an_erased_prediction_is_reported(page: Page, site: Site) -> None:
    pid = predict(site, "forget me: my card was stolen", entity_key="erase-me")
    ingested(site, [pid])
    page.goto(f"{site.url}/ui/#/records")
    row = page.locator(f'tr[data-prediction-id="{pid}"]')
    expect(row).to_be_visible()
    erased = httpx.delete(f"{site.url}/api/v1/records", params={"entity_key": "erase-me"}, timeout=30)
    assert erased.status_code == 200, erased.text
    row.get_by_role("button", name="✓ Right").click()
    expect(row.get_by_role("alert")).to_contain_text("not stored: unknown_prediction")


def test_the_monitoring_page_plots_real_traffic_latency_accuracy_and_drift(page: Page, site: Site) -> None:
    texts = ["my card was stolen", "what is my balance", UNSEEN]
    ids = [predict(site, texts[i % 3] if i % 2 else UNSEEN) for i in range(40)]
    ingested(site, [ids[-1]])  # records are ingested in order
    ingested(site, ids[:1])
    labels = {"balance", "card_lost"}
    feedback = [{"prediction_id": pid, "label": sorted(labels)[i % 2]} for i, pid in enumerate(ids[:12])]
    sent = httpx.post(f"{site.url}/api/v1/feedback", json={"feedback": feedback}, timeout=30)
    assert sent.json()["stored"] == 12, sent.text
    rule = {
        "name": "router-latency",
        "target": ENDPOINT,
        "metric": "latency_p95_s",
        "op": ">",
        "threshold": 0,
        "window_s": 3600,
        "min_samples": 1,
    }
    created = httpx.post(f"{site.url}/api/v1/alerts/rules", json=rule, timeout=30)
    assert created.status_code == 201, created.text
    events = f"{site.url}/api/v1/alerts/events"
    wait_for(
        "the alert to fire",
        lambda: httpx.get(events, params={"target": ENDPOINT}, timeout=10).json()["events"],
    )

    with page.expect_response(lambda r: f"/api/v1/monitor/{ENDPOINT}?" in r.url) as answered:
        page.goto(f"{site.url}/ui/#/monitor/{ENDPOINT}")
    query = parse_qs(urlparse(answered.value.url).query)
    assert set(query) == {"start", "end", "bucket_s"}
    assert query["bucket_s"] == ["3600"]  # the last day, hourly
    data = answered.value.json()
    buckets = len(data["buckets"])
    traffic = data["traffic"]["series"]
    assert list(traffic) == ["router@production"]
    assert sum(traffic["router@production"]) >= 40

    expect(page.locator("#traffic-chart svg rect.bar")).to_have_count(buckets * len(traffic))
    expect(page.locator("#traffic-chart .legend li")).to_have_text(["router@production"])
    latency_points = sum(v is not None for s in data["latency"]["series"].values() for v in s)
    assert latency_points >= 3
    expect(page.locator("#latency-chart svg circle.point")).to_have_count(latency_points)
    accuracy_points = sum(v is not None for s in data["accuracy"]["series"].values() for v in s)
    assert accuracy_points >= 1
    expect(page.locator("#accuracy-chart svg circle.point")).to_have_count(accuracy_points)
    expect(page.locator("#accuracy-table")).to_contain_text("router@production")

    drift = data["drift"]
    assert [f["feature"] for f in drift["features"]] == ["text"]
    assert drift["version"] == "router:2"
    text = drift["features"][0]
    assert text["drifted"], text  # half the texts are far from the reference
    assert text["p_value"] is not None, text  # under 1,000 values: a test (chi-square), not a distance
    chart = "#drift-test-chart"
    expect(page.locator(f"{chart} svg rect.bar")).to_have_count(1)
    expect(page.locator(f"{chart} svg rect.bar")).to_have_attribute("data-label", "text")
    expect(page.locator(f"{chart} svg line.marker")).to_have_count(1)
    expect(page.locator(f"{chart} svg rect.bar.highlight")).to_have_count(1)
    expect(page.locator("#monitor")).to_contain_text("Verdict: drift · 100.0 % of the features drifted")
    expect(page.locator("#drift-table")).to_contain_text(text["test"])
    expect(page.locator("#monitor")).to_contain_text("Inputs of router:2")
    expect(page.locator("#alerts")).to_contain_text("latency_p95_s")
    expect(page.get_by_role("region", name="Staleness")).to_contain_text("Serving version's age")


def test_the_monitoring_page_stacks_the_traffic_of_each_variant(page: Page, site: Site) -> None:
    answered_by: set[str] = set()
    for _ in range(200):  # a weighted random split: call until both variants answered
        answer = site.infer("split", site.lr_body())
        assert answer.status_code == 200, answer.text
        answered_by.add(answer.headers["berth-variant"])
        if len(answered_by) == 2:
            break
    url = f"{site.url}/api/v1/monitor/split"
    wait_for(
        "both variants' records", lambda: len(httpx.get(url, timeout=30).json()["traffic"]["series"]) == 2
    )
    with page.expect_response(lambda r: "/api/v1/monitor/split?" in r.url) as answered:
        page.goto(f"{site.url}/ui/#/monitor/split")
    data = answered.value.json()
    expect(page.locator("#traffic-chart .legend li")).to_have_text(["lr:1", "lr:2"])
    expect(page.locator("#traffic-chart svg rect.bar")).to_have_count(2 * len(data["buckets"]))
    expect(page.locator("#monitor")).to_contain_text("no reference profile pushed with this version")
    expect(page.locator("#monitor")).to_contain_text("No accuracy in this window")


def test_the_monitoring_page_charts_failed_requests(page: Page, site: Site) -> None:
    bad = {"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
    for _ in range(3):
        answer = httpx.post(f"{site.url}/v2/models/{ENDPOINT}/infer", json=bad, timeout=30)
        assert answer.status_code == 400
    url = f"{site.url}/api/v1/monitor/{ENDPOINT}"
    wait_for("the failures", lambda: httpx.get(url, timeout=30).json()["errors"]["series"])
    with page.expect_response(lambda r: f"/api/v1/monitor/{ENDPOINT}?" in r.url) as answered:
        page.goto(f"{site.url}/ui/#/monitor/{ENDPOINT}")
    errors = answered.value.json()["errors"]["series"]
    expect(page.locator("#errors-chart svg rect.bar")).to_have_count(
        len(errors) * len(answered.value.json()["buckets"])
    )
    expect(page.locator("#errors-chart .legend li")).to_have_text(list(errors))


def test_an_endpoint_without_traffic_says_no_data(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/monitor/quiet")
    monitor = page.locator("#monitor")
    expect(monitor).to_contain_text("No accuracy in this window")
    expect(monitor).to_contain_text("No latency figures in this window.")
    expect(monitor).to_contain_text("No traffic in this window.")
    expect(monitor).to_contain_text("No failed requests in this window.")
    expect(monitor).to_contain_text("Verdict: no traffic in this window")
    expect(page.locator("#monitor svg")).to_have_count(0)


def test_an_unknown_endpoint_shows_the_api_error(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/monitor/nope")
    expect(page.get_by_role("alert")).to_contain_text("404 model_not_found")


def test_the_jobs_page_follows_a_real_job_to_its_end(page: Page, site: Site, tmp_path: Path) -> None:
    data = site.home / "data"
    data.mkdir(exist_ok=True)
    (data / "texts.csv").write_text("text\nmy card was stolen\nwhat is my balance\nlost my card\n")
    job = httpx.post(
        f"{site.url}/api/v1/jobs",
        json={
            "kind": "batch-score",
            "params": {"model": "router", "input": "data/texts.csv", "chunk_rows": 1},
        },
        timeout=30,
    )
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/v1/jobs") else None)
    page.clock.install()
    page.goto(f"{site.url}/ui/#/jobs")
    row = page.locator(f'#jobs tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("batch-score")
    expect(row).to_contain_text("queued")  # no worker yet
    bar = page.get_by_role("progressbar", name=f"Progress of job {job_id}")
    expect(bar).to_have_js_property("value", 0)

    with worker_process(site.home, tmp_path):
        url = f"{site.url}/api/v1/jobs/{job_id}"
        done = wait_for("the job to finish", lambda: httpx.get(url, timeout=10).json()["finished_at"], 60)
    assert done
    page.clock.run_for(2100)  # the page refreshes every 2 s while a job is queued or running
    expect(row).to_contain_text("succeeded")
    expect(bar).to_have_js_property("value", 1)
    expect(row).to_contain_text("scored 3 of 3 rows")
    polls = len(asked)
    page.clock.run_for(10_000)
    assert len(asked) == polls, "no refresh once no job runs"


FITS = """table => {
    const section = table.closest('section').getBoundingClientRect();
    const box = table.parentElement;
    const edges = box.getBoundingClientRect();
    return {
        section: [section.left, section.right],
        box: [edges.left, edges.right],
        table: table.getBoundingClientRect().width,
        room: box.clientWidth,
        page: document.documentElement.scrollWidth,
        viewport: window.innerWidth,
    };
}"""


@pytest.mark.parametrize("width", [1280, 800])
def test_the_drift_table_fits_its_section(page: Page, site: Site, width: int) -> None:
    """On a wide and a narrow screen the drift table fits the width its section gives it (on a
    narrower one it would scroll sideways inside its own box), and the page never scrolls sideways."""
    ids = [predict(site, UNSEEN if i % 2 else "my card was stolen") for i in range(20)]
    ingested(site, [ids[-1]])
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site.url}/ui/#/monitor/{ENDPOINT}")
    table = page.locator("#drift-table")
    expect(table).to_contain_text("text")
    fits = table.evaluate(FITS)
    assert fits["page"] <= fits["viewport"], fits
    assert 0 <= fits["section"][0] < fits["section"][1] <= fits["viewport"], fits
    assert fits["section"][0] <= fits["box"][0] < fits["box"][1] <= fits["section"][1], fits
    assert fits["table"] <= fits["room"] + 1, fits  # + 1: sub-pixel widths against a rounded clientWidth
