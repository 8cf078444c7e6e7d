"""``berth push --card --visibility --contact``, ``berth catalog search|show``, ``berth models
visibility|contact`` and ``berth endpoint visibility`` on a home (``--home``) and a server (``--url``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from berth.cli.main import cli
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.support.servers import server_in_thread

CARD = """# Churn

## Intended use
Monthly churn scoring.

## Limitations
Retail customers only.
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(params=["home", "url"])
def where(request: pytest.FixtureRequest, home: Path) -> Iterator[list[str]]:
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield ["--url", url]


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: str | Path) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def ok_json(*args: str | Path) -> Any:
    return json.loads(ok(*args))


def test_push_a_card_then_find_and_read_it(where: list[str], model_files: ModelFiles, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text(CARD)
    pushed = ok(
        "push", model_files.churn_skops, "--name", "churn", "--card", card, "--visibility", "discoverable",
        "--contact", "ana@a.example", "--metric", "roc_auc=0.9", "--example", model_files.churn_example,
        *where,
    )  # fmt: skip
    assert pushed.startswith("pushed churn version 1")
    ok("push", model_files.churn_skops, "--name", "other", "--example", model_files.churn_example, *where)

    listed = ok("catalog", "search", "retail", *where)
    assert "churn" in listed
    assert "2/7" in listed  # the card's completeness
    assert "other" not in listed
    assert listed.rstrip().endswith("1 found")
    # the README's example: a search sorted by usage (neither is called yet: by name after usage)
    by_usage = ok_json("catalog", "search", "churn", "--sort", "usage", "--json", *where)
    assert [e["name"] for e in by_usage["entries"]] == ["churn"]
    page = ok_json("catalog", "search", "--visibility", "discoverable", "--json", *where)
    assert [e["name"] for e in page["entries"]] == ["churn"]
    entry = ok_json("catalog", "show", "churn", *where)
    assert entry["card"]["sections"]["limitations"] == "Retail customers only."
    assert entry["contact"] == "ana@a.example"
    assert entry["access"] == {"may_read": True, "may_predict": True}

    assert (
        ok("models", "visibility", "other", "discoverable", *where).strip() == "model other is discoverable"
    )
    assert (
        ok("models", "contact", "other", "bo@b.example", *where).strip()
        == "model other: contact bo@b.example"
    )
    assert [e["name"] for e in ok_json("catalog", "search", "bo@b.example", "--json", *where)["entries"]] == [
        "other"
    ]
    shown = ok_json("models", "show", "other", "--json", *where)["model"]
    assert (shown["visibility"], shown["contact"]) == ("discoverable", "bo@b.example")


def test_endpoint_visibility_and_paging(where: list[str], model_files: ModelFiles) -> None:
    for name in ("m1", "m2", "m3"):
        ok("push", model_files.churn_skops, "--name", name, "--example", model_files.churn_example, *where)
    ok("endpoint", "create", "ep", "--target", "m1=100", *where)

    assert ok("endpoint", "visibility", "ep", "discoverable", *where).strip() == "endpoint ep is discoverable"
    first = ok_json("catalog", "search", "--limit", "2", "--json", *where)
    assert [e["name"] for e in first["entries"]] == ["ep", "m1"]
    second = ok_json("catalog", "search", "--limit", "2", "--cursor", first["next_cursor"], "--json", *where)
    assert [e["name"] for e in second["entries"]] == ["m2", "m3"]
    assert ok_json("catalog", "search", "--kind", "endpoint", "--json", *where)["entries"][0][
        "visibility"
    ] == ("discoverable")


def test_a_bad_card_and_an_unknown_entry_fail_with_their_codes(
    where: list[str], model_files: ModelFiles, tmp_path: Path
) -> None:
    card = tmp_path / "card.md"
    card.write_text("## Purpose\nnone\n")
    bad = run("push", model_files.churn_skops, "--name", "x", "--card", card, *where).exception
    assert isinstance(bad, BerthError)
    assert bad.code is ErrorCode.INVALID_CARD
    assert "unknown section 'Purpose'" in bad.message
    missing = run("catalog", "show", "nothing", *where).exception
    assert isinstance(missing, BerthError)
    assert missing.code is ErrorCode.MODEL_NOT_FOUND
