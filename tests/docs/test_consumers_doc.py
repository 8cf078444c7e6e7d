"""docs/consumers.md runs as written against a server with authentication on: the consumers of a
model called by two teams, the deprecation commands as its owner, the warning a caller gets (on
the CLI, in the headers, in Python), and the withdrawal.

Given, as docs/security.md makes them: team risk owns ``churn`` (version 1, version 2 behind
alias ``staging``) and endpoint ``scoring``; alice is a maintainer there; team growth (carol) is
granted ``churn``. Carol calls versions 1 and 2, alice version 2, before the consumers are read.
The doc's counts and dates are its own day's; the header, the teams, principals and versions are
compared. One change of order, said here: the deprecation block ends by withdrawing version 1's
deprecation, which "What callers get" needs in force, so that last command runs after them.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

import berth
from tests.docs.readme_blocks import Block, readme_blocks, the_block
from tests.docs.teams import SERVER_TIMEOUT_S, Platform, platform, write_model
from tests.docs.terminal import PythonSession, Terminal

CONSUMERS_DOC = Path(__file__).resolve().parents[2] / "docs" / "consumers.md"
BLOCKS = readme_blocks(CONSUMERS_DOC, ("bash", "python", "console", "http"))
CALL = "berth predict churn:{version} --json '{{\"instances\": [[0.1, 0.2]]}}'"


def block(starts: str) -> Block:
    return the_block(BLOCKS, starts)


def given_teams(site: Platform) -> None:
    site.member("alice", "risk", "maintainer")
    site.member("carol", "growth", "predictor")
    site.as_principal("admin")
    reader = site.reader
    write_model(reader.folder / "model.skops")
    reader.run("berth push model.skops --name churn --team risk")
    reader.run("berth push model.skops --name churn --team risk --alias staging")
    reader.run("berth endpoint create scoring --target churn@staging --team risk")
    reader.run("berth team grant growth --endpoint churn")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_consumers_and_deprecations_run_as_written(tmp_path: Path, reader_env: dict[str, str]) -> None:
    listing = block("$ berth models consumers churn")
    deprecating = block("$ berth models deprecate churn --version 1")
    answer = block("HTTP/1.1 200 OK")
    warned = block("$ berth predict churn:1")
    python = block("import warnings")
    assert len(BLOCKS) == 5, "a block of docs/consumers.md no test runs"
    reader = Terminal(tmp_path, reader_env)
    with platform(reader) as site:
        given_teams(site)
        site.as_principal("carol")
        reader.run(CALL.format(version=1))
        reader.run(CALL.format(version=2))
        site.as_principal("alice")
        reader.run(CALL.format(version=2))
        wait_for_consumers(reader, lambda rows: sum(r["calls"] for r in rows) == 3)
        the_consumers(reader, listing)

        [*announcing, withdrawing] = deprecating.console_commands()
        the_announcements(reader, announcing)
        site.as_principal("carol")
        the_warning(reader, warned)
        the_headers(site, answer)
        the_python_filter(site, python)
        site.as_principal("alice")
        wait_for_consumers(reader, lambda rows: any(r["deprecated_calls"] > 0 for r in rows))
        assert reader.run(withdrawing.text).out == "withdrew the deprecation of churn version 1\n"
        site.as_principal("carol")
        assert "warning" not in reader.run(CALL.format(version=1)).err  # withdrawn: no more warning


def the_consumers(reader: Terminal, listing: Block) -> None:
    [command] = listing.console_commands()
    table = reader.run(command.text).out.splitlines()
    shown = command.shown_text.splitlines()
    assert table[0].split() == shown[0].split()
    assert [row.split()[:2] for row in table[1:]] == [row.split()[:2] for row in shown[1:]]
    versions = [re.sub(r" \(deprecated\)", "", row).split()[7:-1] for row in shown[1:]]
    assert [row.split()[7:-1] for row in table[1:]] == versions  # nothing is deprecated yet


def the_announcements(reader: Terminal, commands: list[Any]) -> None:
    first, *others = commands
    printed = reader.run(first.text).out
    assert re.fullmatch(r"  Deprecation: @\d+", first.shown_text.splitlines()[1])
    said, shown = printed.splitlines(), first.shown_text.splitlines()
    assert len(said) == len(shown)
    assert re.fullmatch(r"  Deprecation: @\d+", said[1])
    assert [said[0], *said[2:]] == [shown[0], *shown[2:]]
    alias, endpoint, listed = others
    assert reader.run(alias.text).out.startswith("deprecated churn alias staging: sunset 2027-06-01\n")
    assert reader.run(endpoint.text).out.startswith("deprecated endpoint scoring: sunset 2027-06-01\n")
    rows = reader.run(listed.text).out.splitlines()
    assert [row.split()[:2] for row in rows] == [["SCOPE", "SUBJECT"], ["alias", "staging"], ["version", "1"]]


def the_warning(reader: Terminal, warned: Block) -> None:
    [command] = warned.console_commands()
    done = reader.run(command.text)
    assert done.err == command.shown_text  # on stderr, as the doc shows it
    assert "predictions" in json.loads(done.out)


def the_headers(site: Platform, answer: Block) -> None:
    """The headers the doc shows on an answer of version 1 (on /v1, as the CLI above called it)."""
    answered = httpx.post(
        f"{site.url}/v1/models/churn/versions/1:predict",
        json={"instances": [[0.1, 0.2]]},
        headers={"authorization": f"Bearer {site.tokens['carol']}"},
        timeout=30,
    )
    status, *headers = answer.text.splitlines()
    assert f"HTTP/1.1 {answered.status_code} OK" == status
    for line in headers:
        name, value = line.split(": ", 1)
        if name == "deprecation":
            assert re.fullmatch(r"@\d+", answered.headers[name])
            assert re.fullmatch(r"@\d+", value)
        else:
            assert answered.headers[name] == value, name


def the_python_filter(site: Platform, python: Block) -> None:
    """The filter, then a call of version 1 in the same session: the answer fails the test."""
    session = PythonSession(site.reader.folder)
    session.namespace["token"] = site.tokens["carol"]
    # in a `with`: the warning raised as an error must not leave the client's connection to be
    # collected later, in another test, as an unraisable ResourceWarning
    call = (
        f'\nwith berth.Client("{site.url}", token=token) as client:\n'
        '    client.predict("churn", [[0.1, 0.2]], version=1)\n'
    )
    with warnings.catch_warnings(), pytest.raises(berth.BerthDeprecationWarning, match="2027-03-01"):
        session.run(python.text + call)


def wait_for_consumers(reader: Terminal, done: Any) -> None:
    """The usage reaches the registry at the server's next flush (every 5 s): wait for it."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while not done(json.loads(reader.run("berth models consumers churn --json").out)):
        assert time.monotonic() < deadline, "the consumers did not come"
        time.sleep(0.5)
