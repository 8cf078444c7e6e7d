"""The web app's actions against a real server with authentication on: a maintainer promotes a
version to an alias and rolls it back, sets an endpoint's weights, starts, aborts and promotes a
canary, rolls an endpoint back; an administrator runs a retrain job that a real `berth worker`
runs. Each through its confirmation dialog, reflected without a reload, checked through the API
and in the audit trail. A reader of the same team gets no buttons, and a call forced through the
app's own code shows the server's refusal; a principal of another team is answered as for a name
that does not exist."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.jobs.processes import worker_process
from tests.support.servers import server_process
from tests.ui.trainer import install_tiny_trainer


@dataclass(frozen=True)
class Acting:
    url: str
    home: Path
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def get(self, who: str, path: str, **params: Any) -> Any:
        answer = self.call(who, "GET", path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def audit(self, action: str, resource: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(
            "root", "/api/v1/audit", action=action, resource_name=resource
        )
        return events


@pytest.fixture(scope="module")
def acting(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Acting]:
    """`lr` (versions 1-3, production -> 3) and endpoints in team `ml`; tokens of an administrator
    (`root`), a maintainer (`mia`) and a reader (`rita`) of `ml`, and a maintainer of `other` (`otto`)."""
    home = tmp_path_factory.mktemp("ui-actions") / "home"
    for aliases in (["production"], ["staging"], ["production"]):
        berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=aliases, team="ml")
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        tokens = {"root": store.create_token("root", admin=True).secret}
        store.create_team("other")  # `ml` exists: its models were pushed
        for who, team, role in (
            ("mia", "ml", Role.MAINTAINER),
            ("rita", "ml", Role.READER),
            ("otto", "other", Role.MAINTAINER),
        ):
            store.set_member(team, who, role)
            tokens[who] = store.create_token(who).secret
    finally:
        store.close()
    with server_process(home, env={"BERTH_AUTH": "tokens"}) as url:
        site = Acting(url, home, tokens)
        for name, targets in (
            ("weighted", [{"target": "lr:1", "weight": 50}, {"target": "lr:2", "weight": 50}]),
            ("canaried", [{"target": "lr:1"}]),
            ("rolled", [{"target": "lr:1"}]),
        ):
            made = site.call(
                "root", "POST", "/api/v1/endpoints", json={"name": name, "team": "ml", "targets": targets}
            )
            assert made.status_code == 201, made.text
        yield site


def sign_in(page: Page, site: Acting, who: str, view: str) -> None:
    """Open the app with `who`'s token in the tab's session, at `view` (a hash route)."""
    page.goto(f"{site.url}/ui/favicon.svg")  # the app's origin, without calling the API unauthenticated
    page.evaluate("token => sessionStorage.setItem('berth.token', token)", site.tokens[who])
    page.goto(f"{site.url}/ui/#{view}")
    page.evaluate("window.__samePage = true")  # gone if the page reloaded


def confirm(page: Page, label: str, reason: str = "") -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    if reason:
        dialog.get_by_label("Reason").fill(reason)
    dialog.get_by_role("button", name=label, exact=True).click()
    expect(dialog).to_have_count(0)


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__samePage") is True


def test_a_maintainer_promotes_a_version_to_an_alias_and_rolls_it_back(page: Page, acting: Acting) -> None:
    sign_in(page, acting, "mia", "/models/lr")
    aliases = page.locator("#aliases")
    expect(aliases.locator("tr", has_text="production")).to_contain_text("version 3")

    page.get_by_label("Version to promote").select_option("1")
    page.get_by_label("To alias").fill("production")
    page.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Promote version 1 to production")
    expect(dialog.locator("table.changes tbody tr")).to_have_text(["alias productionversion 3version 1"])
    dialog.get_by_role("button", name="Cancel").click()  # cancelling sends nothing
    expect(dialog).to_have_count(0)
    assert acting.get("rita", "/api/v1/models/lr/aliases")["production"] == 3

    page.get_by_role("button", name="Promote…").click()
    confirm(page, "Promote", reason="v1 scores better on the new data")
    expect(page.locator("#notices")).to_contain_text("lr@production now points at version 1")
    expect(aliases.locator("tr", has_text="production")).to_contain_text("version 1")
    expect(page.locator("#alias-history tbody tr").first).to_contain_text("v1 scores better on the new data")
    assert_not_reloaded(page)
    assert acting.get("rita", "/api/v1/models/lr/aliases")["production"] == 1

    row = aliases.locator("tr", has_text="production")
    expect(row).to_contain_text("version 3")  # before its last move
    row.get_by_role("button", name="Roll back production").click()
    expect(page.get_by_role("dialog").locator("table.changes")).to_contain_text("version 1version 3")
    confirm(page, "Roll back")
    expect(aliases.locator("tr", has_text="production")).to_contain_text("version 3")
    assert_not_reloaded(page)
    assert acting.get("rita", "/api/v1/models/lr/aliases")["production"] == 3

    moves = acting.audit("alias.set", "lr@production")
    assert [(e["actor"], e["before"], e["after"]["version"]) for e in moves[-2:]] == [
        ("mia", {"version": 3}, 1),
        ("mia", {"version": 1}, 3),
    ]
    assert moves[-2]["after"]["reason"] == "v1 scores better on the new data"
    assert moves[-1]["after"]["reason"] == "rollback of production from version 1"


def test_a_maintainer_sets_the_weights_of_an_endpoint(page: Page, acting: Acting) -> None:
    sign_in(page, acting, "mia", "/endpoints/weighted")
    page.get_by_label("Weight of lr:1").fill("80")
    page.get_by_label("Weight of lr:2").fill("20")
    page.get_by_role("button", name="Set weights…").click()
    changes = page.get_by_role("dialog").locator("table.changes tbody tr")
    expect(changes).to_have_text(["lr:150 (50.0 %)80 (80.0 %)", "lr:250 (50.0 %)20 (20.0 %)"])
    confirm(page, "Set weights", reason="more to the tried one")
    expect(page.locator("#notices")).to_contain_text("weighted is at revision 2")
    expect(page.locator("#targets tr", has_text="lr:1")).to_contain_text("80")
    expect(page.locator("#history tbody tr").first).to_contain_text("more to the tried one")
    assert_not_reloaded(page)
    targets = acting.get("rita", "/api/v1/endpoints/weighted")["targets"]
    assert {t["target"]: t["weight"] for t in targets} == {"lr:1": 80, "lr:2": 20}
    (event,) = acting.audit("endpoint.update", "weighted")
    assert event["actor"] == "mia"
    assert event["after"]["reason"] == "more to the tried one"


def test_a_maintainer_starts_aborts_and_promotes_a_canary(page: Page, acting: Acting) -> None:
    sign_in(page, acting, "mia", "/endpoints/canaried")

    def start() -> None:
        page.get_by_label("Canary target").fill("lr:3")
        page.get_by_label("Steps (%)").fill("10, 50")
        page.get_by_label("Seconds per step").fill("3600")  # no step while the test runs
        page.get_by_role("button", name="Start canary…").click()
        expect(page.get_by_role("dialog").locator("table.changes")).to_contain_text("lr:3: 10 → 50 %")
        confirm(page, "Start canary")
        expect(page.locator("#targets tr", has_text="canary")).to_contain_text("lr:3")

    start()
    assert acting.get("rita", "/api/v1/endpoints/canaried")["canary"]["target"] == "lr:3"
    page.get_by_role("button", name="Abort canary…").click()
    confirm(page, "Abort canary")
    expect(page.locator("#targets tr", has_text="canary")).to_have_count(0)
    assert acting.get("rita", "/api/v1/endpoints/canaried").get("canary") is None

    start()
    page.get_by_role("button", name="Promote canary…").click()
    expect(page.get_by_role("dialog").locator("table.changes")).to_contain_text("lr:3 1 (100.0 %)")
    confirm(page, "Promote canary")
    expect(page.locator("#targets tbody tr")).to_have_count(1)
    expect(page.locator("#targets")).to_contain_text("lr:3")
    assert_not_reloaded(page)
    endpoint = acting.get("rita", "/api/v1/endpoints/canaried")
    assert ([t["target"] for t in endpoint["targets"]], endpoint.get("canary")) == (["lr:3"], None)
    for kind in ("canary_start", "canary_rollback", "canary_promote"):
        assert [e["actor"] for e in acting.audit(f"endpoint.{kind}", "canaried")][-1:] == ["mia"], kind


def test_a_maintainer_rolls_an_endpoint_back(page: Page, acting: Acting) -> None:
    changed = acting.call(
        "mia", "PATCH", "/api/v1/endpoints/rolled/weights", json={"weights": {"lr:1": 1, "lr:2": 3}}
    )
    assert changed.status_code == 200, changed.text
    sign_in(page, acting, "mia", "/endpoints/rolled")
    page.get_by_role("button", name="Roll back the last change…").click()
    expect(page.get_by_role("dialog").locator("table.changes tbody tr").first).to_have_text(
        "targetslr:1 1 (25.0 %), lr:2 3 (75.0 %)lr:1 1 (100.0 %)"
    )
    confirm(page, "Roll back")
    expect(page.locator("#targets tbody tr")).to_have_count(1)
    assert_not_reloaded(page)
    assert [t["target"] for t in acting.get("rita", "/api/v1/endpoints/rolled")["targets"]] == ["lr:1"]
    assert [e["actor"] for e in acting.audit("endpoint.rollback", "rolled")] == ["mia"]


def test_a_reader_gets_no_buttons_and_a_forced_call_shows_the_refusal(page: Page, acting: Acting) -> None:
    sign_in(page, acting, "rita", "/models/lr")
    expect(page.locator("#aliases")).to_contain_text("production")
    expect(page.locator("#alias-rights")).to_contain_text("needs the maintainer role in team ml")
    expect(page.locator("#promote-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll back production")).to_have_count(0)
    before = acting.get("rita", "/api/v1/models/lr/aliases")["production"]
    # forced: the app's own promotion, called from the page as a button would
    page.evaluate("async () => { (await import('/ui/aliases.js')).promoteAlias('lr', 'production', 2, 3); }")
    page.get_by_role("dialog").get_by_role("button", name="Promote", exact=True).click()
    refusal = page.get_by_role("dialog").get_by_role("alert")
    expect(refusal).to_contain_text("403 forbidden")
    expect(refusal).to_contain_text("this token may not do this")
    assert acting.get("rita", "/api/v1/models/lr/aliases")["production"] == before
    assert [e for e in acting.audit("alias.set", "lr@production") if e["actor"] == "rita"] == []

    page.goto(f"{acting.url}/ui/#/endpoints/weighted")
    expect(page.locator("#endpoint-rights")).to_contain_text("needs the maintainer role in team ml")
    expect(page.locator("#weights-form")).to_have_count(0)
    expect(page.locator("#canary-form")).to_have_count(0)
    page.evaluate(
        """async () => {
            const { api } = await import('/ui/api.js');
            const endpoint = await api('/api/v1/endpoints/weighted');
            (await import('/ui/endpoint_actions.js')).setWeights(endpoint, { 'lr:1': 1, 'lr:2': 99 });
        }"""
    )
    page.get_by_role("dialog").get_by_role("button", name="Set weights", exact=True).click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("403 forbidden")
    assert 99 not in [t["weight"] for t in acting.get("rita", "/api/v1/endpoints/weighted")["targets"]]


def test_another_team_is_answered_as_for_a_missing_name(page: Page, acting: Acting) -> None:
    hidden = acting.call("otto", "GET", "/api/v1/permissions/lr")
    missing = acting.call("otto", "GET", "/api/v1/permissions/no-such-model")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["code"] == missing.json()["code"]
    sign_in(page, acting, "otto", "/models/lr")
    expect(page.get_by_role("alert")).to_contain_text("404")
    page.evaluate("async () => { (await import('/ui/aliases.js')).promoteAlias('lr', 'production', 2, 3); }")
    page.get_by_role("dialog").get_by_role("button", name="Promote", exact=True).click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("404")
    assert acting.get("rita", "/api/v1/models/lr/aliases")["production"] == 3


def test_the_permissions_follow_the_roles(acting: Acting) -> None:
    def actions(who: str) -> set[str]:
        return set(acting.get(who, "/api/v1/permissions/weighted")["actions"])

    assert {"read", "alias", "endpoint", "push"} <= actions("mia")
    assert "manage" not in actions("mia")
    assert actions("rita") == {"discover", "read", "describe"}
    assert {"alias", "endpoint", "manage"} <= actions("root")


def test_an_administrator_runs_a_retrain_job_and_follows_it(
    page: Page, acting: Acting, tmp_path: Path
) -> None:
    sign_in(page, acting, "mia", "/jobs")  # the job API is the administrators'
    expect(page.get_by_role("alert")).to_contain_text("403 forbidden")
    expect(page.locator("#retrain-form")).to_have_count(0)

    sign_in(page, acting, "root", "/jobs")
    expect(page.locator("#jobs")).to_contain_text("No jobs yet.")
    page.get_by_text("Run a retrain job").click()
    page.get_by_label("Model").fill("tiny")
    page.get_by_label("Trainer").fill("ui-tiny")
    page.get_by_label("Endpoint").fill("weighted")
    page.get_by_role("button", name="Retrain…").click()
    expect(page.get_by_role("dialog")).to_contain_text(
        "moves tiny@champion to it only if it beats the champion"
    )
    confirm(page, "Run retrain job", reason="new data arrived")
    expect(page.locator("#notices")).to_contain_text("Retrain job")
    row = page.locator("#jobs-table tbody tr").first
    expect(row).to_contain_text("retrain")
    expect(row).to_contain_text("queued")  # no worker yet
    job_id = int(row.get_attribute("data-job-id") or 0)

    with worker_process(acting.home, install_tiny_trainer(tmp_path / "trainer")):
        expect(row).to_contain_text("succeeded", timeout=60_000)  # the page polls while it runs
    expect(page.get_by_role("progressbar", name=f"Progress of job {job_id}")).to_have_js_property("value", 1)
    expect(row).to_contain_text("promoted")  # the last progress message says whether, and why
    assert_not_reloaded(page)
    job = acting.get("root", f"/api/v1/jobs/{job_id}")
    assert (job["status"], job["kind"], job["params"]["trainer"]) == ("succeeded", "retrain", "ui-tiny")
    assert job["result"]["challenger"]["version"] == 1
    (event,) = acting.audit("job.enqueue", str(job_id))
    assert (event["actor"], event["after"]["kind"], event["after"]["reason"]) == (
        "root",
        "retrain",
        "new data arrived",
    )
