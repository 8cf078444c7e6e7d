"""docs/catalog.md runs as written against a server with authentication on: the visibility
commands as a maintainer of the owning team, a card pushed as the doc writes it, then the search
as a principal of another team.

Given, as docs/security.md makes them: team alpha (ana, maintainer) and team beta (ben,
predictor); alpha also has a private model ``churn-ledger``, which ben must not find. The doc's
visibility block names an endpoint ``scoring`` it does not make: it is made (alpha's, on churn)
right before the command that needs it. The card push is written inline in the doc's text (after
the card's block), and run as written from there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.docs.readme_blocks import Block, readme_blocks, the_block
from tests.docs.teams import Platform, platform, write_model
from tests.docs.terminal import Script, Terminal

CATALOG_DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"
BLOCKS = readme_blocks(CATALOG_DOC, ("bash", "python", "markdown"))


def block(starts: str) -> Block:
    return the_block(BLOCKS, starts)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_visibility_cards_and_search_run_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    visibility = block("berth push model.skops --name churn --team alpha")
    card = block("# Churn model")
    search = block("# ben, of another team")
    assert len(BLOCKS) == 3, "a block of docs/catalog.md no test runs"
    reader = Terminal(tmp_path, reader_env)
    with platform(reader) as site:
        site.member("ana", "alpha", "maintainer")
        site.member("ben", "beta", "predictor")
        write_model(reader.folder / "model.skops")
        site.as_principal("ana")
        reader.run("berth push model.skops --name churn-ledger --team alpha")  # private
        the_visibility(site, visibility)
        the_card(reader, card)
        site.as_principal("ben")
        the_search(reader, search)


def the_visibility(site: Platform, visibility: Block) -> None:
    reader, script = site.reader, Script(visibility)
    pushed = reader.run(script.next("berth push model.skops --name churn --team alpha").text).out
    assert pushed.startswith("pushed churn version 1 [sklearn, ")
    assert reader.run(script.next("berth models visibility churn discoverable").text).out == (
        "model churn is discoverable\n"
    )
    contact = reader.run(script.next('berth models contact churn "ana@alpha.example, #alpha-ml"').text).out
    assert contact == "model churn: contact ana@alpha.example, #alpha-ml\n"
    reader.run("berth endpoint create scoring --target churn:1 --team alpha")  # the doc's `scoring`
    endpoint = reader.run(script.next("berth endpoint visibility scoring discoverable").text).out
    assert endpoint == "endpoint scoring is discoverable\n"
    script.done()


def the_card(reader: Terminal, card: Block) -> None:
    (reader.folder / "card.md").write_text(card.text + "\n")
    found = re.search(r"`(berth push model\.skops --name churn --card card\.md)`", CATALOG_DOC.read_text())
    assert found is not None, "the doc's card push"
    assert reader.run(found[1]).out.startswith("pushed churn version 2 [sklearn, ")


def the_search(reader: Terminal, search: Block) -> None:
    script = Script(search)
    found = reader.run(script.next("berth catalog search churn --kind model --sort usage").text).out
    header, *rows, total = found.splitlines()
    assert header.split()[:5] == ["NAME", "KIND", "TEAM", "VISIBILITY", "TASK"]
    assert [row.split()[:4] for row in rows] == [["churn", "model", "alpha", "discoverable"]]
    assert total == "1 found"  # not alpha's private churn-ledger
    entry = json.loads(reader.run(script.next("berth catalog show churn").text).out)
    assert entry["contact"] == "ana@alpha.example, #alpha-ml"
    assert entry["access"] == {"may_read": False, "may_predict": False}
    assert entry["card"]["filled"] == 2
    script.done()
    hidden = reader.run("berth catalog show churn-ledger", ok=False)  # private: as if missing
    assert "model_not_found" in hidden.err
