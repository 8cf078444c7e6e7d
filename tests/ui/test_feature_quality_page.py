"""Issue 16 item 5 on the web app: the monitoring page of an endpoint with a ``features`` step shows
each view's freshness and, per served feature, its null rate and drift verdict
(`tests.support.feature_quality`: 200 customers, 20 stale, 20 missing, 20 more without an income;
the incomes served drift)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.feature_quality import Served, feature_quality_server, recorded


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with feature_quality_server(tmp_path_factory.mktemp("feature-quality-ui") / "home") as found:
        recorded(found)
        yield found


def test_the_monitoring_page_shows_served_features_quality(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/ui/")
    page.get_by_role("textbox", name="Token").fill(served.tokens["dave"])  # a reader of alpha
    page.get_by_role("button", name="Use").click()
    page.goto(f"{served.url}/ui/#/monitor/scoring")
    view = page.locator('#served-features [data-view="customer-money"]')
    expect(view.get_by_role("heading")).to_contain_text("by customer_id · redis · TTL 1.0 h")
    expect(view.locator(".facts")).to_contain_text("Not in the store10.0 %")
    expect(view.locator(".facts")).to_contain_text("Older than the TTL10.0 %")
    expect(view.locator(".facts")).to_contain_text(
        "Hit / miss / stale / unavailable when served80.0 % / 10.0 % / 10.0 % / 0.0 %"
    )
    rows = view.locator("table.served-features-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("age")
    expect(rows.nth(0)).to_contain_text("20.0 %")
    expect(rows.nth(0)).to_contain_text("no drift")
    expect(rows.nth(1)).to_contain_text("income")
    expect(rows.nth(1)).to_contain_text("30.0 %")
    expect(rows.nth(1)).to_contain_text("drift")


def test_another_team_is_shown_the_refusal_and_no_features(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/ui/")
    page.get_by_role("textbox", name="Token").fill(served.tokens["bob"])
    page.get_by_role("button", name="Use").click()
    page.goto(f"{served.url}/ui/#/monitor/scoring")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#served-features")).to_have_count(0)
