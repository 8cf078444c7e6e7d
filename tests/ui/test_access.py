"""The Access page in a real browser against `berth serve` with API tokens: the owner team's admin
approves (with an expiry) and denies, each confirmed in a dialog and shown without a reload; the
requester sees the outcome and may withdraw; an admin of another team sees none of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.schema import models
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_process


@dataclass(frozen=True)
class AccessSite:
    url: str
    tokens: dict[str, str]

    def ask(self, who: str, target: str) -> int:
        answer = httpx.post(
            f"{self.url}/api/v1/access-requests",
            json={"target": target, "team": "beta", "reason": f"{target} for the campaign"},
            headers={"authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        request_id: int = answer.json()["id"]
        return request_id

    def status(self, who: str, request_id: int) -> dict[str, object]:
        answer = httpx.get(
            f"{self.url}/api/v1/access-requests/{request_id}",
            headers={"authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )
        found: dict[str, object] = answer.json()
        return found


@pytest.fixture(scope="module")
def access_site(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[AccessSite]:
    home = tmp_path_factory.mktemp("ui-access") / "home"
    for name in ("scores", "segments", "forecast", "other", "asked"):
        berth.push(lr.model, name=name, home=home, input_example=lr.x[:3], team="alpha")
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        for team in ("beta", "gamma"):
            store.create_team(team)
        for principal, team, role in (
            ("ada", "alpha", Role.ADMIN),
            ("bea", "beta", Role.PREDICTOR),
            ("cal", "gamma", Role.ADMIN),
        ):
            store.set_member(team, principal, role)
        tokens = {p: store.create_token(p).secret for p in ("ada", "bea", "cal")}
        with store.engine.begin() as conn:
            conn.execute(update(models).values(visibility="discoverable"))
    finally:
        store.close()
    with server_process(home, env={"BERTH_AUTH": "tokens"}) as url:
        yield AccessSite(url, tokens)


def _open_as(page: Page, site: AccessSite, who: str) -> None:
    page.goto(f"{site.url}/ui/#/access")
    page.get_by_role("textbox", name="Token").fill(site.tokens[who])
    page.get_by_role("button", name="Use").click()


def test_the_owner_approves_and_denies_and_the_requester_sees_it(page: Page, access_site: AccessSite) -> None:
    approved = access_site.ask("bea", "scores")
    denied = access_site.ask("bea", "segments")
    _open_as(page, access_site, "ada")
    row = page.locator(f"#access-inbox-table tr[data-request-id='{approved}']")
    expect(row).to_contain_text("scores for the campaign")
    expect(row).to_contain_text("pending")

    row.get_by_label(f"Grant of request {approved} expires").select_option(label="in 30 days")
    row.get_by_role("button", name="Approve").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Approve request {approved}? Team beta may call scores until")
    dialog.get_by_role("button", name="Cancel").click()  # cancelled: nothing happens
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert access_site.status("ada", approved)["status"] == "pending"
    row.get_by_role("button", name="Approve").click()
    page.get_by_role("dialog").get_by_role("button", name="Approve").click()
    expect(page.locator("#access-status")).to_contain_text(f"request {approved} is approved")
    expect(page.locator(f"#access-inbox-table tr[data-request-id='{approved}']")).to_contain_text("until")
    assert access_site.status("ada", approved)["grant_expires_at"] is not None

    other = page.locator(f"#access-inbox-table tr[data-request-id='{denied}']")
    other.get_by_role("button", name="Deny").click()  # a denial needs a reason: nothing is asked
    expect(page.get_by_role("dialog")).to_have_count(0)
    other.get_by_label(f"Reason for request {denied}").fill("segments hold personal data")
    other.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("dialog")).to_contain_text("bea will read")
    page.get_by_role("dialog").get_by_role("button", name="Deny").click()
    expect(page.locator("#access-status")).to_contain_text(f"request {denied} is denied")
    expect(page.locator(f"#access-inbox-table tr[data-request-id='{denied}']")).to_contain_text(
        "segments hold personal data"
    )

    # the requester: the outcome and the reason, and a pending request may be withdrawn
    pending = access_site.ask("bea", "forecast")
    page.get_by_role("button", name="Forget").click()
    _open_as(page, access_site, "bea")
    mine = page.locator("#access-mine-table")
    expect(mine.locator(f"tr[data-request-id='{approved}']")).to_contain_text("approved")
    expect(mine.locator(f"tr[data-request-id='{denied}']")).to_contain_text("segments hold personal data")
    expect(page.locator("#access-inbox")).to_contain_text("No requests to your teams.")
    mine.locator(f"tr[data-request-id='{pending}']").get_by_role("button", name="Withdraw").click()
    page.get_by_role("dialog").get_by_role("button", name="Withdraw").click()
    expect(mine.locator(f"tr[data-request-id='{pending}']")).to_contain_text("withdrawn")


def test_an_admin_of_another_team_sees_none_of_it(page: Page, access_site: AccessSite) -> None:
    access_site.ask("bea", "other")
    _open_as(page, access_site, "cal")
    expect(page.locator("#access-inbox")).to_contain_text("No requests to your teams.")
    expect(page.locator("#access-mine")).to_contain_text("You have asked for nothing yet.")


def test_asking_from_the_page(page: Page, access_site: AccessSite) -> None:
    page.goto(f"{access_site.url}/ui/#/access?target=asked")
    page.get_by_role("textbox", name="Token").fill(access_site.tokens["bea"])
    page.get_by_role("button", name="Use").click()
    form = page.locator("#access-ask")
    expect(form.get_by_label("Model or endpoint")).to_have_value("asked")
    form.get_by_label("For your team").fill("beta")
    form.get_by_label("Why").fill("a second opinion")
    form.get_by_role("button", name="Ask").click()
    page.get_by_role("dialog").get_by_role("button", name="Ask").click()
    expect(page.locator("#access-status")).to_contain_text("is pending")
    expect(page.locator("#access-mine-table")).to_contain_text("a second opinion")
    form.get_by_label("Model or endpoint").fill("nothing-here")
    form.get_by_label("Why").fill("x")
    form.get_by_role("button", name="Ask").click()
    page.get_by_role("dialog").get_by_role("button", name="Ask").click()
    expect(page.locator("#access-status")).to_contain_text("404 model_not_found")
