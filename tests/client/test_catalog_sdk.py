"""The SDK's catalog: ``berth.push(card=, visibility=, contact=)`` and ``berth.catalog(...)``, the
same answers embedded (``home=``) and remote (``url=``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.support.servers import server_in_thread


@pytest.fixture(params=["home", "url"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    home = tmp_path / "home"
    if request.param == "home":
        yield {"home": home}
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield {"url": url}


def test_push_a_card_and_find_the_model(target: dict[str, Any], lr: Trained, tmp_path: Path) -> None:
    card_file = tmp_path / "card.md"
    card_file.write_text("## Evaluation\nAUC 0.91 on a 2025 holdout.\n")
    berth.push(
        lr.model, name="lr", input_example=lr.x[:2], card={"Intended use": "Demo scoring"},
        visibility="discoverable", contact="ana@a.example", **target,
    )  # fmt: skip
    version = berth.push(lr.model, name="lr", input_example=lr.x[:2], card=card_file, **target)
    berth.push(lr.model, name="plain", input_example=lr.x[:2], **target)

    assert version.metadata.card == {"evaluation": "AUC 0.91 on a 2025 holdout."}
    with berth.catalog(**target) as catalog:
        page = catalog.search("holdout")
        assert [e["name"] for e in page["entries"]] == ["lr"]
        assert page["entries"][0]["task"] == "classification"
        assert page["entries"][0]["card"]["filled"] == 1  # the newest version's card
        entry = catalog.get("lr")
        assert [v["card"]["filled"] for v in entry["versions"]] == [1, 1]
        assert entry["contact"] == "ana@a.example"
        assert catalog.search(visibility="discoverable")["total"] == 1
        assert catalog.set_visibility("plain", "discoverable") == {
            "name": "plain",
            "visibility": "discoverable",
        }
        assert catalog.set_contact("plain", "bo@b.example") == {"name": "plain", "contact": "bo@b.example"}
        assert catalog.search(visibility="discoverable", sort="recent")["entries"][0]["name"] == "plain"


def test_a_bad_card_is_refused_before_anything_is_pushed(target: dict[str, Any], lr: Trained) -> None:
    with pytest.raises(berth.BerthError) as caught:
        berth.push(lr.model, name="lr", card={"purpose": "x"}, **target)

    assert caught.value.code is berth.ErrorCode.INVALID_CARD
    with berth.catalog(**target) as catalog:
        assert catalog.search()["total"] == 0
