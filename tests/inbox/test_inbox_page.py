"""The Inbox page in a real browser (Debian's chromium, Playwright) against a real server: a team
receives routed messages, acknowledges one and reroutes one (a correction sent as feedback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from berth.core.settings import Settings
from tests.conftest import Trained
from tests.inbox.conftest import populate, predict, wait_for
from tests.support.servers import server_in_thread
from tests.ui.conftest import browser, page

__all__ = ["browser", "page"]  # the browser fixtures of tests/ui


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, text_pipeline: Trained
) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("inbox-page") / "home"
    tokens = populate(home, text_pipeline)
    settings = Settings(home=home, poll_interval_s=0.1, auth="tokens", delivery_interval_s=0.05)
    with server_in_thread(settings) as url:
        yield url, tokens


def inbox(url: str, token: str, team: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{url}/api/v1/teams/{team}/inbox", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["messages"]
    return found


def test_a_team_receives_acknowledges_and_reroutes(
    page: Page, site: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, tokens = site
    auth = {"authorization": f"Bearer {tokens['root']}"}
    stolen = predict(url, "my card was stolen", headers=auth).headers["berth-prediction-id"]
    page.goto(f"{url}/ui/#/inbox/card-security")
    page.fill("#token-input", tokens["alice"])  # a maintainer of card-security
    page.click("#token-form button[type=submit]")
    expect(page.locator("#inbox-team")).to_have_value("card-security")
    first = page.locator("#inbox-messages tbody tr").filter(has_text="my card was stolen")
    expect(first).to_have_count(1, timeout=60_000)  # ingested, then delivered: on a loaded machine, seconds
    expect(first.locator(".category")).to_have_text("card_lost")
    expect(first.locator(".delivery")).to_contain_text("delivered (inbox)")

    # a message that arrives while the page is open shows up without a reload
    missing = predict(url, "card missing please block", headers=auth).headers["berth-prediction-id"]
    second = page.locator("#inbox-messages tbody tr").filter(has_text="card missing please block")
    expect(second).to_have_count(1)

    first.locator("[data-action=ack]").click()
    expect(first.locator("[data-action=ack]")).to_have_text("Acknowledged by alice")
    expect(first.locator("[data-action=ack]")).to_be_disabled()
    [acked] = [m for m in inbox(url, tokens["dave"], "card-security") if m["prediction_id"] == stolen]
    assert acked["acknowledged_by"] == "alice"

    second.locator("[data-action=reroute]").click()
    expect(page.locator("#reroute-dialog")).to_be_visible()
    page.select_option("#reroute-to", "accounts")
    page.fill("#reroute-label", "balance")
    page.click("#reroute-confirm")
    expect(page.locator("#reroute-dialog")).to_be_hidden()
    expect(second).to_contain_text("Rerouted to accounts")

    moved = wait_for(
        "the message in accounts' inbox",
        lambda: [m for m in inbox(url, tokens["bob"], "accounts") if m["prediction_id"] == missing],
    )
    assert moved[0]["rerouted_from"] == "card-security"
    record = httpx.get(f"{url}/api/v1/records/{missing}", headers=auth, timeout=10).json()["records"][0]
    assert record["feedback"]["label"] == "balance"

    # the other team sees its own inbox, and the rerouted message in it
    page.fill("#token-input", tokens["bob"])
    page.click("#token-form button[type=submit]")
    page.select_option("#inbox-team", "accounts")
    expect(
        page.locator("#inbox-messages tbody tr").filter(has_text="card missing please block")
    ).to_contain_text("from card-security")
    page.select_option("#inbox-team", "card-security")
    expect(page.locator("#inbox-status")).to_contain_text("403")
