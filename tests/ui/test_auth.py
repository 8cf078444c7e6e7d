"""With authentication on, the app loads, says plainly what the API refused, and sends the token
typed in its box (kept in the tab's sessionStorage) as a bearer token."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import SecureSite


def test_without_a_token_the_refusal_is_shown(page: Page, secure_site: SecureSite) -> None:
    page.goto(f"{secure_site.url}/ui/")
    expect(page.get_by_role("alert")).to_contain_text("401 unauthenticated")
    expect(page.get_by_role("alert")).to_contain_text("enter a token")


def test_the_token_box_authenticates_the_app(page: Page, secure_site: SecureSite) -> None:
    page.goto(f"{secure_site.url}/ui/")
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_role("textbox", name="Token").fill(secure_site.admin_token)
    with page.expect_request("**/api/v1/catalog?**") as asked:
        page.get_by_role("button", name="Use").click()
    assert asked.value.headers["authorization"] == f"Bearer {secure_site.admin_token}"
    expect(page.locator("#models")).to_contain_text("guarded")
    page.reload()  # the token lives as long as the tab
    expect(page.locator("#models")).to_contain_text("guarded")
    assert page.evaluate("sessionStorage.getItem('berth.token')") == secure_site.admin_token
    page.get_by_role("button", name="Forget").click()
    expect(page.get_by_role("alert")).to_contain_text("401 unauthenticated")
    assert page.evaluate("sessionStorage.getItem('berth.token')") is None


def test_a_forbidden_answer_is_shown(page: Page, secure_site: SecureSite) -> None:
    page.goto(f"{secure_site.url}/ui/")
    page.get_by_role("textbox", name="Token").fill(secure_site.reader_token)
    page.get_by_role("button", name="Use").click()
    expect(page.locator("#models")).to_contain_text("feedback-router")  # a reader may read
    page.goto(f"{secure_site.url}/ui/#/voice")
    page.get_by_label("Tell us about your experience").fill("my card was stolen")
    page.get_by_role("button", name="Send").click()  # but not predict
    expect(page.get_by_role("alert")).to_contain_text("403 forbidden")
    expect(page.get_by_role("alert")).to_contain_text("this token may not")
