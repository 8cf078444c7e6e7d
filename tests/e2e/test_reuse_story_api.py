"""Issue 15's reuse story without a browser, against one real `berth serve` with API tokens: each
step once through the SDK (`berth.catalog`, `berth.access`, `berth.consumers`, `berth.Client`) and
once through the CLI (`berth … --url --token`), and at each step what team beta must not learn
about team alpha's private model (tests/support/reuse_story.py tells who is who)."""

from __future__ import annotations

import json
import subprocess
import warnings
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

import berth
from berth.client.transport import BerthDeprecationWarning
from berth.core.errors import BerthError, ErrorCode
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
from tests.support.servers import berth_executable


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Story]:
    with serve_story(tmp_path_factory.mktemp("reuse-api") / "home", lr) as served:
        yield served


def cli(story: Story, who: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """`berth ARGS --url URL --token T` as `who`; with `ok`, it must succeed."""
    done = subprocess.run(
        [berth_executable(), *args, "--url", story.url, "--token", story.tokens[who]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ok:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def cli_json(story: Story, who: str, *args: str) -> Any:
    return json.loads(cli(story, who, *args).stdout)


def sdk_error(call: Any) -> BerthError:
    with pytest.raises(BerthError) as raised:
        call()
    return raised.value


def assert_nothing_private(story: Story) -> None:
    """What beta may ask about alpha's private model, answered as about a name never pushed."""
    for path in (
        "/api/v1/models/{}",
        "/api/v1/catalog/{}",
        "/api/v1/models/{}/consumers",
        "/api/v1/models/{}/deprecations",
        "/api/v1/models/{}/versions",
        "/api/v1/permissions/{}",
    ):
        same_as_missing(
            story.call("bea", "GET", path.format(PRIVATE)), story.call("bea", "GET", path.format(NEVER))
        )
    ask = {"team": CONSUMER, "reason": "curious"}
    same_as_missing(
        story.call("bea", "POST", "/api/v1/access-requests", json={"target": PRIVATE, **ask}),
        story.call("bea", "POST", "/api/v1/access-requests", json={"target": NEVER, **ask}),
    )
    same_as_missing(
        story.call("bea", "POST", f"/v2/models/{PRIVATE}/infer", json=story.body()),
        story.call("bea", "POST", f"/v2/models/{NEVER}/infer", json=story.body()),
    )
    for q in ("churn", "salaries", "", None):
        page = story.call("bea", "GET", "/api/v1/catalog", params={} if q is None else {"q": q}).json()
        names = [e["name"] for e in page["entries"]]
        assert PRIVATE not in names, page
        assert page["total"] == len(names), page
        assert PRIVATE not in json.dumps(page), page
        assert page["facets"].get("team", {}).get(OWNER, 0) <= 1, page
    with berth.catalog(url=story.url, token=story.tokens["bea"]) as catalog:
        missing = sdk_error(lambda: catalog.get(NEVER))
        private = sdk_error(lambda: catalog.get(PRIVATE))
    assert (private.code, str(private)) == (missing.code, str(missing).replace(NEVER, PRIVATE))
    shown = cli(story, "bea", "catalog", "search", "churn")
    assert PRIVATE not in shown.stdout
    missing_cli = cli(story, "bea", "catalog", "show", NEVER, ok=False)
    private_cli = cli(story, "bea", "catalog", "show", PRIVATE, ok=False)
    assert private_cli.returncode == missing_cli.returncode != 0
    assert private_cli.stderr == missing_cli.stderr.replace(NEVER, PRIVATE)


def test_the_reuse_story_through_the_sdk_and_the_cli(story: Story) -> None:
    assert_nothing_private(story)

    # 1. beta searches and finds alpha's discoverable model with its card (SDK and CLI)
    with berth.catalog(url=story.url, token=story.tokens["bea"]) as catalog:
        page = catalog.search("churn")
        assert [e["name"] for e in page["entries"]] == [SHARED]
        assert page["total"] == 1
        assert page["facets"]["team"] == {OWNER: 1}
        entry = catalog.get(SHARED)
    assert entry["team"] == OWNER
    assert entry["contact"] == "ada@alpha.example"
    assert entry["card"]["filled"] == entry["card"]["total"]
    assert (entry["access"]["may_read"], entry["access"]["may_predict"]) == (False, False)
    assert not entry_fields(entry) & PRIVATE_FIELDS, entry_fields(entry) & PRIVATE_FIELDS
    assert [v["version"] for v in entry["versions"]] == [1, 2]
    assert cli_json(story, "bea", "catalog", "search", "churn", "--json")["entries"] == page["entries"]
    assert cli_json(story, "bea", "catalog", "show", SHARED)["card"] == entry["card"]
    # beta may find it, not read it: its consumers are alpha's business
    assert story.call("bea", "GET", f"/api/v1/models/{SHARED}/consumers").status_code == 403
    assert story.call("bea", "GET", f"/api/v1/models/{SHARED}").status_code == 403
    denied = story.call("bea", "POST", f"/v2/models/{SHARED}/infer", json=story.body())
    assert denied.status_code == 403, denied.text

    # 2. beta asks for access: once through the SDK (then withdrawn), once through the CLI
    with berth.access(url=story.url, token=story.tokens["bea"]) as access:
        first = access.request(SHARED, team=CONSUMER, reason="retention campaign")
        assert first["status"] == "pending"
        assert access.withdraw(first["id"])["status"] == "withdrawn"
    asked = cli_json(
        story, "bea", "access", "request", SHARED, "--team", CONSUMER, "--reason", "retention", "--json"
    )
    assert asked["status"] == "pending"
    assert asked["owner_team"] == OWNER
    assert_nothing_private(story)

    # 3. alpha's admin sees it pending (SDK and CLI) and approves it (CLI)
    with berth.access(url=story.url, token=story.tokens["ada"]) as access:
        inbox = access.list(team=OWNER, status="pending")
    assert [r["id"] for r in inbox] == [asked["id"]]
    listed = cli_json(story, "ada", "access", "list", "--team", OWNER, "--pending", "--json")
    assert [r["id"] for r in listed] == [asked["id"]]
    approved = cli(story, "ada", "access", "approve", str(asked["id"]), "--expires-in", "30d")
    assert "approved" in approved.stdout
    with berth.access(url=story.url, token=story.tokens["bea"]) as access:
        assert access.get(asked["id"])["status"] == "approved"  # beta sees the outcome
    with berth.catalog(url=story.url, token=story.tokens["bea"]) as catalog:
        assert catalog.get(SHARED)["access"]["may_predict"] is True

    # 4. beta calls it: SDK (a DataFrame), CLI and plain HTTP answer what the model answers
    x = [story.x[0]]
    with berth.Client(story.url, token=story.tokens["ada"]) as owner:
        expected = owner.predict(SHARED, x).to_dict("list")
    with berth.Client(story.url, token=story.tokens["bea"]) as client:
        assert client.predict(SHARED, x).to_dict("list") == expected
    answered = cli_json(story, "bea", "predict", SHARED, "--json", json.dumps(story.body()))
    assert answered["model_version"] == "1"
    plain = story.call("bea", "POST", f"/v2/models/{SHARED}/infer", json=story.body())
    assert plain.status_code == 200
    assert "deprecation" not in plain.headers
    assert [o["data"] for o in plain.json()["outputs"]] == [o["data"] for o in answered["outputs"]]
    assert_nothing_private(story)

    # 5. alpha sees beta among the consumers (usage is flushed on its own clock)
    with berth.consumers(url=story.url, token=story.tokens["ada"]) as consumers:
        found = eventually(
            lambda: consumers.consumers(SHARED),
            lambda rows: any(r["principal"] == "bea" and r["calls"] >= 3 for r in rows),
        )
    beta = next(r for r in found if r["principal"] == "bea")
    assert beta["team"] == CONSUMER
    assert beta["calls"] == 3
    assert [(v["model"], v["version"]) for v in beta["versions"]] == [(SHARED, 1)]
    rows = cli_json(story, "ada", "models", "consumers", SHARED, "--json")
    assert any(r["principal"] == "bea" and r["team"] == CONSUMER for r in rows)
    with berth.consumers(url=story.url, token=story.tokens["bea"]) as consumers:
        assert sdk_error(lambda: consumers.consumers(SHARED)).code is ErrorCode.FORBIDDEN
    refused = cli(story, "bea", "models", "consumers", SHARED, ok=False)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr

    # 6. alpha deprecates version 1 (CLI; beta may not), and beta's answers say so
    refused = cli(
        story, "bea", "models", "deprecate", SHARED, "--version", "1", "--sunset", "2031-03-01", ok=False
    )
    assert refused.returncode != 0
    cli(
        story,
        "ada",
        "models",
        "deprecate",
        SHARED,
        "--version",
        "1",
        "--sunset",
        "2031-03-01",
        "--message",
        "use 2",
    )
    plain = story.call("bea", "POST", f"/v2/models/{SHARED}/infer", json=story.body())
    assert plain.status_code == 200
    deprecated_at = plain.headers["deprecation"]
    assert deprecated_at.startswith("@")
    assert int(deprecated_at[1:]) > 0
    assert parsedate_to_datetime(plain.headers["sunset"]).isoformat() == "2031-03-01T00:00:00+00:00"
    assert plain.headers["sunset"] == "Sat, 01 Mar 2031 00:00:00 GMT"  # RFC 8594: an HTTP-date
    with (
        berth.Client(story.url, token=story.tokens["bea"]) as client,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        client.predict(SHARED, x)
    assert any(
        issubclass(w.category, BerthDeprecationWarning) and "2031-03-01" in str(w.message) for w in caught
    )
    shown = cli(story, "bea", "predict", SHARED, "--json", json.dumps(story.body()))
    assert "deprecated" in shown.stderr
    assert "2031-03-01" in shown.stderr
    # beta reads the notice where it may look: the deprecations of what it found (SDK and CLI)
    with berth.consumers(url=story.url, token=story.tokens["bea"]) as consumers:
        notices = consumers.deprecations(SHARED)
    assert [(d["scope"], d["subject"], d["message"]) for d in notices] == [("version", "1", "use 2")]
    assert cli_json(story, "bea", "models", "deprecations", SHARED, "--json") == notices
    # and alpha sees who still calls it since the deprecation
    with berth.consumers(url=story.url, token=story.tokens["ada"]) as consumers:
        still = eventually(
            lambda: consumers.consumers(SHARED),
            lambda rows: any(r["principal"] == "bea" and r["calls"] == 6 for r in rows),
        )
    beta = next(r for r in still if r["principal"] == "bea")
    # usage is kept by UTC day: the day's calls to version 1 from its deprecation day on (3 or 6)
    assert 3 <= beta["deprecated_calls"] <= 6
    assert beta["versions"][0]["deprecated"] is True
    assert_nothing_private(story)
