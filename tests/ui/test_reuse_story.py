"""Issue 15's reuse story in a real browser against `berth serve` with API tokens: team beta
searches the catalog and finds team alpha's discoverable model (with its card), asks for access
from its catalog entry, alpha's admin approves in another browser, beta calls the model, alpha sees
beta among its consumers and deprecates version 1, and beta's answers carry the headers and its
page the notice. At each step nothing of alpha's private model reaches beta: not in the catalog's
entries, totals or facets, not in any answer beta's browser got, and opening it answers as a name
that never existed. The same story through the SDK and the CLI: tests/e2e/test_reuse_story_api.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.conftest import Trained
from tests.records.helpers import eventually
from tests.support.reuse_story import (
    CONSUMER,
    NEVER,
    OWNER,
    PRIVATE,
    PRIVATE_FIELDS,
    SHARED,
    Story,
    entry_fields,
    same_as_missing,
    serve_story,
)
from tests.ui.conftest import fresh_page


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Story]:
    with serve_story(tmp_path_factory.mktemp("ui-reuse") / "home", lr) as served:
        yield served


@pytest.fixture
def owner_page(browser: Browser) -> Iterator[Page]:
    """Alpha's admin in a browser context of its own (its own token in its own sessionStorage)."""
    with fresh_page(browser, "alpha's page") as opened:
        yield opened


def sign_in(page: Page, story: Story, who: str, hash_: str) -> None:
    page.goto(f"{story.url}/ui/{hash_}")
    page.get_by_role("textbox", name="Token").fill(story.tokens[who])
    page.get_by_role("button", name="Use").click()
    page.evaluate("window.storyMarker = 'not reloaded'")  # a reload would lose it


def go(page: Page, hash_: str) -> None:
    """Another page of the app, as its links go there (a hash change, no reload)."""
    page.evaluate("(hash) => { location.hash = hash; }", hash_)


def not_reloaded(page: Page) -> None:
    assert page.evaluate("window.storyMarker") == "not reloaded"


class Seen:
    """Every API answer a browser got, to check that none of them names the private model."""

    def __init__(self, page: Page) -> None:
        self.responses: list[Response] = []
        page.on(
            "response", lambda response: self.responses.append(response) if "/api/" in response.url else None
        )

    def nothing_private(self) -> None:
        for response in self.responses:
            text = response.text()
            assert PRIVATE not in text, (response.url, text)
            assert "salar" not in text, (response.url, text)
        self.responses.clear()


def the_private_model_is_as_missing(page: Page, story: Story) -> None:
    """In beta's browser and through its token: alpha's private model answers as a name never pushed."""
    for hash_ in ("#/models/{}", "#/catalog/{}", "#/models/{}/versions/1"):
        shown = []
        for name in (PRIVATE, NEVER):
            go(page, hash_.format(name))
            error = page.locator("#main .note.error")
            expect(error).to_contain_text(name)
            shown.append(error.inner_text())
        assert shown[0] == shown[1].replace(NEVER, PRIVATE), shown
    asked = []
    for name in (PRIVATE, NEVER):
        go(page, f"#/access?target={name}")
        form = page.locator("#access-ask")
        expect(form.get_by_label("Model or endpoint")).to_have_value(name)
        form.get_by_label("For your team").fill(CONSUMER)
        form.get_by_label("Why").fill("curious")
        form.get_by_role("button", name="Ask").click()
        page.get_by_role("dialog").get_by_role("button", name="Ask").click()
        expect(page.locator("#access-status")).to_contain_text("404")
        asked.append(page.locator("#access-status").inner_text())
    assert asked[0] == asked[1].replace(NEVER, PRIVATE), asked
    for path in ("/api/v1/models/{}", "/api/v1/catalog/{}", "/api/v1/models/{}/consumers"):
        same_as_missing(
            story.call("bea", "GET", path.format(PRIVATE)), story.call("bea", "GET", path.format(NEVER))
        )
    ask = {"team": CONSUMER, "reason": "curious"}
    same_as_missing(
        story.call("bea", "POST", "/api/v1/access-requests", json={"target": PRIVATE, **ask}),
        story.call("bea", "POST", "/api/v1/access-requests", json={"target": NEVER, **ask}),
    )
    # what beta may see of the shared model: its entry, never its artifact or records; not its consumers
    entry = story.call("bea", "GET", f"/api/v1/catalog/{SHARED}")
    assert entry.status_code == 200, entry.text
    assert not entry_fields(entry.json()) & PRIVATE_FIELDS, entry.text
    assert story.call("bea", "GET", f"/api/v1/models/{SHARED}/consumers").status_code == 403


def search(page: Page, words: str) -> None:
    page.locator("#model-search").fill(words)
    page.get_by_role("button", name="Search", exact=True).click()


def outputs(answer: httpx.Response) -> dict[str, Any]:
    return {o["name"]: o["data"] for o in answer.json()["outputs"]}


def test_beta_reuses_alphas_model(page: Page, owner_page: Page, story: Story, lr: Trained) -> None:
    seen = Seen(page)

    # 1. beta searches the catalog: alpha's discoverable model, with its card; the private one nowhere
    sign_in(page, story, "bea", "#/catalog")
    expect(page.locator("#catalog-total")).to_contain_text("found")
    for words in ("churn", "salaries", "risk retail"):
        search(page, words)
        expect(page.locator("#catalog-total")).to_contain_text(
            f"1 found · by team: {OWNER} 1" if words != "salaries" else "0 found"
        )
    search(page, "churn")
    rows = page.locator("#models tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(SHARED)
    expect(rows.first).to_contain_text("discoverable")
    expect(rows.first).to_contain_text("7/7")  # the card is complete
    expect(page.locator("#main")).not_to_contain_text(PRIVATE)
    rows.first.get_by_role("link", name=SHARED).click()
    expect(page.locator("#main h1")).to_contain_text(SHARED)  # beta may not read it: its catalog entry
    expect(page.locator("#main")).to_contain_text(
        "Rank customers by the risk that they leave within 90 days."
    )
    expect(page.locator("#main")).to_contain_text("may not call (a grant is needed)")
    expect(page.locator("#deprecation-notice")).to_be_empty()
    expect(page.locator("#consumers")).to_have_count(0)
    seen.nothing_private()

    # 2. beta asks for access from the entry: the Access page's form, prefilled
    page.get_by_role("link", name="Request access").click()
    form = page.locator("#access-ask")
    expect(form.get_by_label("Model or endpoint")).to_have_value(SHARED)
    form.get_by_label("For your team").fill(CONSUMER)
    form.get_by_label("Why").fill("the retention campaign")
    form.get_by_role("button", name="Ask").click()
    page.get_by_role("dialog").get_by_role("button", name="Ask").click()
    expect(page.locator("#access-status")).to_contain_text("is pending")
    mine = page.locator("#access-mine-table tbody tr")
    expect(mine).to_have_count(1)
    request_id = mine.first.get_attribute("data-request-id")
    not_reloaded(page)
    seen.nothing_private()

    # 3. alpha's admin, in another browser, sees it pending and approves it (confirmed, no reload)
    sign_in(owner_page, story, "ada", "#/access")
    row = owner_page.locator(f"#access-inbox-table tr[data-request-id='{request_id}']")
    expect(row).to_contain_text("the retention campaign")
    expect(row).to_contain_text("pending")
    expect(row).to_contain_text("bea")
    row.get_by_role("button", name="Approve").click()
    dialog = owner_page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Team {CONSUMER} may call {SHARED} for good")
    dialog.get_by_role("button", name="Approve").click()
    expect(owner_page.locator("#access-status")).to_contain_text(f"request {request_id} is approved")
    expect(row).to_contain_text("approved")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    not_reloaded(owner_page)

    # beta sees the outcome, and its entry now says it may call the model
    go(page, f"#/catalog/{SHARED}")
    expect(page.locator("#main")).to_contain_text("may call")
    expect(page.locator("#main")).not_to_contain_text("may not call")
    expect(page.get_by_role("link", name="Request access")).to_have_count(0)
    go(page, "#/access")
    expect(page.locator(f"#access-mine-table tr[data-request-id='{request_id}']")).to_contain_text("approved")
    seen.nothing_private()

    # 4. beta calls it (the app has no place to call an arbitrary model: the API, with beta's token)
    expected = lr.model.predict(np.asarray(story.x[:1], dtype=np.float32)).tolist()
    for _ in range(3):
        answer = story.call("bea", "POST", f"/v2/models/{SHARED}/infer", json=story.body())
        assert answer.status_code == 200, answer.text
        assert outputs(answer)["predict"] == expected
        assert answer.json()["model_version"] == "1"  # 'production'
        assert "deprecation" not in answer.headers

    # 5. alpha sees beta among the consumers of the model: team, principal, calls, version
    eventually(
        lambda: story.call("ada", "GET", f"/api/v1/models/{SHARED}/consumers").json(),
        lambda rows: any(r["principal"] == "bea" and r["calls"] == 3 for r in rows),
    )
    go(owner_page, f"#/models/{SHARED}")
    consumer = owner_page.locator("#consumers-table tbody tr", has_text="bea")
    expect(consumer).to_have_count(1)
    for cell, text in enumerate((CONSUMER, "bea", "3")):
        expect(consumer.locator("td").nth(cell)).to_have_text(text)
    expect(consumer).to_contain_text(f"{SHARED}:1")

    # 6. alpha deprecates version 1 in the web app (confirmed first)
    owner_page.locator("#deprecate-scope").select_option("version:1")
    owner_page.locator("#deprecate-sunset").fill("2031-03-01")
    owner_page.locator("#deprecate-message").fill("use version 2")
    owner_page.get_by_role("button", name="Announce deprecation").click()
    confirm = owner_page.get_by_role("dialog")
    expect(confirm).to_contain_text(f"Announce the deprecation of version 1 of {SHARED}?")
    expect(confirm).to_contain_text("It goes away on 2031-03-01")
    confirm.get_by_role("button", name="Announce").click()
    notice = f"Version 1 of {SHARED} is deprecated, sunset on 2031-03-01: use version 2"
    expect(owner_page.locator("#deprecation-notice")).to_contain_text(notice)
    expect(consumer).to_contain_text(f"{SHARED}:1 deprecated")
    not_reloaded(owner_page)

    # beta's answers carry the headers (RFC 9745, RFC 8594) ...
    answer = story.call("bea", "POST", f"/v2/models/{SHARED}/infer", json=story.body())
    assert answer.status_code == 200
    assert outputs(answer)["predict"] == expected
    deprecation = answer.headers["deprecation"]
    assert deprecation.startswith("@")
    assert int(deprecation[1:]) > 0
    assert parsedate_to_datetime(answer.headers["sunset"]).isoformat() == "2031-03-01T00:00:00+00:00"
    assert answer.headers["sunset"] == "Sat, 01 Mar 2031 00:00:00 GMT"
    # ... and beta's page shows the notice (the entry, where the model's own page takes it)
    for hash_ in (f"#/catalog/{SHARED}", f"#/models/{SHARED}"):
        go(page, "#/catalog")
        expect(page.locator("#catalog-total")).to_contain_text("found")
        go(page, hash_)
        expect(page.locator("#deprecation-notice")).to_contain_text(notice)
        expect(page.locator("#deprecation-notice").get_by_role("button")).to_have_count(0)  # no Withdraw
        expect(page.locator("#consumers")).to_have_count(0)
    not_reloaded(page)
    seen.nothing_private()

    # 7. and all along, the private model was as missing to beta
    the_private_model_is_as_missing(page, story)
