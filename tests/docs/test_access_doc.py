"""docs/access.md runs as written: its flow, command by command, each as the principal its comment
names, against a server with authentication on; then its SDK block.

What the doc takes as given is made first, as docs/security.md makes it: teams risk (which owns the
discoverable models ``churn`` and ``churn-lite``; rita is its admin), marketing (bea) and growth
(gus). The ids the doc writes (7, 8, 9) are filled in as the ids the server gives: 7 is bea's
request the flow makes, 8 one by growth to deny, 9 one of bea's still pending to withdraw.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.docs.readme_blocks import Block, readme_blocks
from tests.docs.teams import Platform, platform, write_model
from tests.docs.terminal import PythonSession, Script, Terminal

ACCESS_DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def given_teams(site: Platform) -> None:
    site.member("rita", "risk", "admin")
    site.member("bea", "marketing", "predictor")
    site.member("gus", "growth", "predictor")
    site.as_principal("admin")
    write_model(site.reader.folder / "model.skops")
    for model in ("churn", "churn-lite"):
        site.reader.run(f"berth push model.skops --name {model} --team risk --visibility discoverable")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_flow_and_the_sdk_run_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    reader = Terminal(tmp_path, reader_env)
    blocks = readme_blocks(ACCESS_DOC)
    [flow] = [b for b in blocks if b.first_line.startswith("# bea, a member of team marketing")]
    [sdk] = [b for b in blocks if b.first_line == "import berth"]
    assert [b.line for b in blocks] == [flow.line, sdk.line], "a block of docs/access.md no test runs"
    with platform(reader) as site:
        given_teams(site)
        the_flow(site, flow)
        the_sdk(site, sdk.text)


def the_flow(site: Platform, flow: Block) -> None:
    reader = site.reader
    script = Script(flow)
    site.as_principal("bea")
    asking = script.next("berth access request churn --team marketing")
    asked = reader.run(asking.text).out
    found = re.fullmatch(r"request (\d+): (.*)\n", asked)
    assert found is not None, asked
    shown = "predict on model 'churn' (team 'risk') for team 'marketing': pending"
    assert found[2] == shown
    assert f"# request 7: {shown}" in flow.text  # the output the doc shows
    site.as_principal("gus")  # 8: another team's request, for risk to deny
    denied_id = request_id(
        reader.run('berth access request churn --team growth --reason "retention mails"').out
    )
    site.as_principal("bea")  # 9: bea's, still pending, to withdraw
    withdrawn_id = request_id(
        reader.run('berth access request churn-lite --team marketing --reason "a test"').out
    )
    reader.placeholders.update(
        {
            "approve 7": f"approve {found[1]}",
            "deny 8": f"deny {denied_id}",
            "withdraw 9": f"withdraw {withdrawn_id}",
        }
    )

    site.as_principal("rita")  # "an admin of team risk"
    inbox = reader.run(script.next("berth access list --team risk --pending").text).out.splitlines()
    assert [row.split()[:3] for row in inbox[1:]] == [
        [withdrawn_id, "pending", "churn-lite"],
        [denied_id, "pending", "churn"],
        [found[1], "pending", "churn"],
    ]
    approved = reader.run(script.next("berth access approve 7 --expires-in 90d").text).out
    assert "approved (fine for the campaign), until " in approved
    denied = reader.run(script.next("berth access deny 8").text).out
    assert "denied (use churn-lite: churn reads salary data)" in denied

    site.as_principal("bea")  # "bea sees the outcome"
    mine = reader.run(script.next("berth access list --mine").text).out
    assert "fine for the campaign" in mine
    withdrawn = reader.run(script.next("berth access withdraw 9").text).out
    assert withdrawn.endswith(": withdrawn\n")

    site.as_principal("rita")  # "an admin of team risk"
    grants = reader.run(script.next("berth team grants --endpoint churn").text).out.splitlines()
    assert [row.split()[:2] for row in grants[1:]] == [["marketing", "rita"]]
    grant = script.next("berth team grant marketing --endpoint churn --expires-in 30d")
    assert "team 'marketing' may call 'churn' until " in reader.run(grant.text).out
    alternative = re.search(r"# or (--expires-at \S+)", grant.text)
    assert alternative is not None
    also = reader.run(f"berth team grant marketing --endpoint churn {alternative[1]}").out
    assert also == "team 'marketing' may call 'churn' until 2027-03-31T00:00:00Z\n"
    script.done()


def the_sdk(site: Platform, source: str) -> None:
    """The SDK block as bea and rita; marketing's grant from the flow is revoked first, else bea's
    team would hold it and her request be refused (409 access_already_held)."""
    site.as_principal("rita")
    site.reader.run("berth team revoke-grant marketing --endpoint churn")
    python = PythonSession(site.reader.folder)
    python.namespace.update(bea_token=site.tokens["bea"], risk_admin_token=site.tokens["rita"])
    python.run(site.reader.fill(source))
    asked = python.namespace["asked"]
    site.as_principal("bea")
    shown = json.loads(site.reader.run(f"berth access show {asked['id']}").out)
    assert (shown["status"], shown["decision_reason"], shown["team"]) == ("approved", "fine", "marketing")
    assert shown["grant_expires_at"] is not None


def request_id(answer: str) -> str:
    found = re.match(r"request (\d+): ", answer)
    assert found is not None, answer
    return found[1]
