"""The model page's consumers and deprecation notice, in a real browser against `berth serve`:
the team sees who calls the model, announces a deprecation (confirmed first) and sees the notice
without a reload; answers from the deprecated version then carry the headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

import berth
from tests.conftest import Trained
from tests.records.helpers import eventually
from tests.support.servers import server_process
from tests.ui.conftest import Site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Site]:
    """`lr` versions 1 and 2 ('staging' on 2); usage flushed every 0.1 s."""
    home = tmp_path_factory.mktemp("ui-consumers") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["staging"])
    with server_process(home, env={"BERTH_USAGE_FLUSH_S": "0.1"}) as url:
        yield Site(url, home, lr.x[:3].tolist())


def test_the_team_sees_its_consumers_and_announces_a_deprecation(page: Page, site: Site) -> None:
    for _ in range(3):
        assert site.infer("lr/versions/1", site.lr_body()).status_code == 200
    consumers = f"{site.url}/api/v1/models/lr/consumers"
    flushed = eventually(lambda: httpx.get(consumers).json(), lambda found: _calls(found) == 3)
    assert _calls(flushed) == 3  # flushed every 0.1 s
    page.goto(f"{site.url}/ui/#/models/lr")
    rows = page.locator("#consumers-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("anonymous")
    expect(rows.first).to_contain_text("lr:1")
    expect(page.locator("#deprecation-notice")).to_be_empty()

    page.locator("#deprecate-scope").select_option("version:1")
    page.locator("#deprecate-sunset").fill("2031-03-01")
    page.locator("#deprecate-message").fill("use version 2")
    page.get_by_role("button", name="Announce deprecation").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("It goes away on 2031-03-01")
    dialog.get_by_role("button", name="Announce").click()

    notice = page.locator("#deprecation-notice")
    expect(notice).to_contain_text("Version 1 of lr is deprecated, sunset on 2031-03-01: use version 2")
    expect(rows.first).to_contain_text("lr:1 deprecated")
    answer = site.infer("lr/versions/1", site.lr_body())
    assert answer.headers["sunset"] == "Sat, 01 Mar 2031 00:00:00 GMT"
    assert "sunset" not in site.infer("lr/versions/2", site.lr_body()).headers

    notice.get_by_role("button", name="Withdraw").click()
    page.get_by_role("dialog").get_by_role("button", name="Withdraw").click()
    expect(notice).to_be_empty()
    assert "sunset" not in site.infer("lr/versions/1", site.lr_body()).headers


def test_a_dismissed_confirmation_announces_nothing(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/#/models/lr")
    page.locator("#deprecate-scope").select_option("alias:staging")
    page.locator("#deprecate-sunset").fill("2031-03-01")
    page.get_by_role("button", name="Announce deprecation").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#deprecation-notice")).to_be_empty()
    assert httpx.get(f"{site.url}/api/v1/models/lr/deprecations").json() == []


def _calls(consumers: list[dict[str, int]]) -> int:
    return sum(c["calls"] for c in consumers)
