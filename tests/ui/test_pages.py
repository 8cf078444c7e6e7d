"""The pages against a real server: catalog, version metadata, endpoints with figures, and the
empty states of the analyst and jobs pages (the pages on recorded data: test_real_data.py)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import Site


def test_the_catalog_lists_models_with_their_team(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/")
    rows = page.locator("#models tbody tr")
    expect(rows).to_have_count(2)
    router = rows.filter(has_text="router")
    expect(router).to_contain_text("voice")
    expect(router).to_contain_text("Routes customer feedback to a team")
    expect(router).to_contain_text("production → 2")
    expect(page.get_by_role("link", name="Catalog")).to_have_attribute("aria-current", "page")


def test_a_page_load_logs_no_console_error(page: Page, site: Site) -> None:
    """Every page of the app loads without a console error (a missing favicon was a 404 on each)."""
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text) if message.type == "error" else None)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    answered: dict[str, int] = {}
    page.on("response", lambda response: answered.__setitem__(response.url, response.status))
    for view in (
        "catalog",
        "endpoints",
        "monitor",
        "monitor/split",
        "endpoints/feedback-router",
        "models/lr",
        "records",
        "voice",
        "jobs",
    ):
        page.goto(f"{site.url}/ui/#/{view}")
        page.wait_for_load_state("networkidle")
        expect(page.get_by_role("link", name=re.compile(".")).first).to_be_visible()
    assert logged == [], logged
    assert failed == [], failed
    assert [url for url, status in answered.items() if status >= 400] == []
    icon = httpx.get(f"{site.url}/ui/favicon.svg")
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert page.locator("link[rel=icon]").get_attribute("href") == "/ui/favicon.svg"


def test_search_filters_the_catalog(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/catalog")
    expect(page.locator("#models tbody tr")).to_have_count(2)
    page.get_by_label("Search").fill("feedback")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#models tbody tr")).to_have_count(1)
    expect(page.locator("#models tbody tr")).to_contain_text("router")


def test_a_model_page_lists_versions_and_alias_history(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/catalog")
    page.get_by_role("link", name="lr", exact=True).click()
    expect(page.get_by_role("heading", name="lr", exact=True)).to_be_visible()
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    history = page.locator("#alias-history tbody tr")
    expect(history).to_have_count(3)  # production -> 1, staging -> 2, production 1 -> 3
    expect(history.first).to_contain_text("production")
    expect(history.first).to_contain_text("3")


def test_a_version_page_charts_its_metrics_and_importance(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/models/router/versions/2")
    metrics = page.locator("#metrics-chart svg rect.bar")
    expect(metrics).to_have_count(3)
    expect(page.locator("#metrics-chart svg")).to_have_attribute("role", "img")
    labels = page.locator("#metrics-chart svg rect.bar").evaluate_all(
        "bars => bars.map(b => b.dataset.label)"
    )
    assert sorted(labels) == ["accuracy", "f1", "precision"]
    expect(page.locator("#importance-chart svg rect.bar")).to_have_count(4)
    expect(page.locator("#signature")).to_contain_text("text")
    expect(page.locator("#signature")).to_contain_text("BYTES")
    expect(page.get_by_role("cell", name="log_loss")).to_be_visible()


def test_docs_render_as_safe_markdown(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/models/router/versions/2")
    docs = page.locator(".markdown")
    expect(docs.locator("h3")).to_have_text("Router")
    expect(docs.locator("strong")).to_have_text("banking")
    expect(docs.locator("li")).to_have_count(2)
    expect(docs.locator("pre")).to_have_text("berth push router")
    expect(docs).to_contain_text("<img src=x onerror=\"document.title='pwned'\">")  # shown as text
    expect(docs.locator("img")).to_have_count(0)
    assert page.title() == "berth"


def test_a_version_without_metadata_says_so(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/models/router/versions/1")
    expect(page.get_by_text("No metrics were pushed with this version.")).to_be_visible()
    expect(page.locator("#metrics-chart")).to_have_count(0)


def test_an_unknown_model_shows_the_api_error(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/models/nope")
    expect(page.get_by_role("alert")).to_contain_text("404 model_not_found")


def test_the_endpoint_page_charts_per_variant_figures(page: Page, site: Site) -> None:
    for _ in range(12):
        assert site.infer("split", site.lr_body()).status_code == 200
    page.goto(f"{site.url}/ui/#/endpoints")
    expect(page.locator("#endpoints tbody tr")).to_have_count(3)
    page.get_by_role("link", name="split").click()
    expect(page.locator("#targets tbody tr")).to_have_count(2)
    rows = page.locator("#stats-table tbody tr")
    expect(rows).to_have_count(2)
    bars = page.locator("#requests-chart svg rect.bar")
    expect(bars).to_have_count(2)
    stats = httpx.get(f"{site.url}/api/v1/endpoints/split/stats", timeout=10).json()["variants"]
    shown = {label: int(text) for label, text in _requests_by_variant(page)}
    assert shown == {variant: figures["total"]["requests"] for variant, figures in stats.items()}
    assert sum(shown.values()) >= 12
    expect(page.locator("#latency-chart svg rect.bar")).to_have_count(6)  # p50/p95/p99 x 2 variants
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("#history")).to_contain_text("create")


def _requests_by_variant(page: Page) -> list[tuple[str, str]]:
    cells = page.locator("#stats-table tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
    )
    return [(label, re.sub(r"\D", "", text)) for label, text in cells]


def test_an_endpoint_without_requests_says_so(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/endpoints/quiet")
    expect(page.get_by_text("No requests yet on this server.")).to_be_visible()


def test_the_voice_page_refuses_an_empty_message(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/voice")
    page.get_by_label("Tell us about your experience").fill("   ")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("Write a few words first.")


def test_the_analyst_page_says_when_nothing_matches(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/records")
    page.get_by_label("Endpoint").fill("quiet")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#records-status")).to_contain_text("No predictions match these filters.")
    expect(page.locator("#records")).to_be_hidden()


def test_the_jobs_page_says_when_there_are_no_jobs(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/jobs")
    expect(page.locator("#jobs")).to_have_text("No jobs yet.")


def test_monitoring_is_reachable_from_the_navigation(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/")
    page.get_by_role("navigation").get_by_role("link", name="Monitoring").click()
    expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
    expect(page.locator("#monitor-endpoints tbody tr")).to_have_count(3)
    page.locator("#monitor-endpoints").get_by_role("link", name="split").click()
    expect(page.get_by_role("heading", name="Monitoring: split")).to_be_visible()
    expect(page.get_by_role("link", name="Monitoring")).to_have_attribute("aria-current", "page")


def test_the_pipeline_is_shown_as_steps(page: Page, site: Site) -> None:
    """feedback-router: no pre-steps -> router@production (weight 1) -> map, rules, rename, select."""
    page.goto(f"{site.url}/ui/#/endpoints/feedback-router")
    pipeline = page.locator("#pipeline")
    expect(page.locator("#pipeline-pre")).to_contain_text("No pre-steps")
    expect(page.locator("#pipeline-targets .step")).to_have_count(1)
    expect(page.locator("#pipeline-targets")).to_contain_text("router@production")
    expect(page.locator("#pipeline-targets")).to_contain_text("weight 1 · 100.0 % of the stable traffic")
    post = page.locator("#pipeline-post ol.steps > li")
    expect(post.locator(".step-kind")).to_have_text(["1. map", "2. rules", "3. rename", "4. select"])
    expect(post.nth(0)).to_contain_text("card_lost → card-security")
    expect(post.nth(0)).to_contain_text("customer-care")
    expect(post.nth(1)).to_contain_text("if true then confidence = round(max(predict_proba), 4)")
    expect(post.nth(2)).to_contain_text("predict → category")
    expect(post.nth(3)).to_contain_text("category")
    assert "{" not in (pipeline.text_content() or ""), "no raw JSON"
