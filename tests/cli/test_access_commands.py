"""``berth access …`` and ``berth team grant --expires-in``: through a server as each principal, and
on the home's database (``--home``, as ``local:<os user>``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import update

import berth
from berth.cli.main import cli
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.schema import models
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_in_thread


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _request_id(output: str) -> str:
    found = re.search(r"request (\d+):", output)
    assert found is not None, output
    return found.group(1)


def test_ask_list_approve_deny_withdraw(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    for name in ("shared", "shared-two", "private"):
        berth.push(lr.model, name=name, home=home, input_example=lr.x[:2], team="alpha")
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        store.create_team("beta")
        store.set_member("alpha", "ada", Role.ADMIN)
        store.set_member("beta", "bea", Role.PREDICTOR)
        tokens = {p: store.create_token(p).secret for p in ("ada", "bea")}
        with store.engine.begin() as conn:
            conn.execute(
                update(models)
                .where(models.c.name.in_(["shared", "shared-two"]))
                .values(visibility="discoverable")
            )
    finally:
        store.close()

    with server_in_thread(Settings(home=home, poll_interval_s=0.1, auth="tokens")) as url:

        def as_(who: str, *args: str) -> Result:
            return run(*args, "--url", url, "--token", tokens[who])

        asked = as_("bea", "access", "request", "shared", "--team", "beta", "--reason", "churn campaign")
        assert asked.exit_code == 0, asked.output
        assert "pending" in asked.output
        first = _request_id(asked.output)
        hidden = as_("bea", "access", "request", "private", "--team", "beta", "--reason", "x")
        assert hidden.exit_code == 1
        assert "model 'private' not found" in str(hidden.exception)
        twice = as_("bea", "access", "request", "shared", "--team", "beta", "--reason", "again")
        assert twice.exit_code == 1
        assert "access_request_pending" in repr(twice.exception)

        inbox = as_("ada", "access", "list", "--team", "alpha", "--pending")
        assert inbox.exit_code == 0, inbox.output
        assert "churn campaign" not in inbox.output  # the table: no reasons, ids and who
        assert re.search(rf"^{first}\s+pending\s+shared\s+alpha\s+beta\s+bea", inbox.output, re.M), (
            inbox.output
        )
        refused = as_("bea", "access", "list", "--team", "alpha")
        assert refused.exit_code == 1
        assert "forbidden" in repr(refused.exception)
        assert as_("bea", "access", "approve", first).exit_code == 1  # the requester may not decide

        approved = as_("ada", "access", "approve", first, "--expires-in", "90d", "--reason", "ok for Q3")
        assert approved.exit_code == 0, approved.output
        assert "approved (ok for Q3), until 20" in approved.output
        grants = as_("ada", "team", "grants", "--endpoint", "shared")
        assert grants.exit_code == 0, grants.output
        assert re.search(r"^beta\s+ada\s+\S+\s+20\S+\s+False$", grants.output, re.M), grants.output
        mine = as_("bea", "access", "list", "--mine", "--json")
        assert [(r["id"], r["status"], r["decision_reason"]) for r in json.loads(mine.output)] == [
            (int(first), "approved", "ok for Q3")
        ]

        second = _request_id(
            as_("bea", "access", "request", "shared-two", "--team", "beta", "--reason", "r").output
        )
        assert as_("ada", "access", "deny", second).exit_code == 2  # a denial says why
        denied = as_("ada", "access", "deny", second, "--reason", "reads salary data")
        assert "denied (reads salary data)" in denied.output
        third = _request_id(
            as_("bea", "access", "request", "shared-two", "--team", "beta", "--reason", "r").output
        )
        withdrawn = as_("bea", "access", "withdraw", third)
        assert withdrawn.exit_code == 0, withdrawn.output
        assert "withdrawn" in withdrawn.output
        shown = as_("bea", "access", "show", second)
        assert json.loads(shown.output)["decision_reason"] == "reads salary data"
        both = as_("ada", "access", "approve", third, "--expires-in", "1d", "--expires-at", "2030-01-01")
        assert both.exit_code == 2

    # the same database, locally: its owner sees every request and decides for every team
    listed = run("access", "list", "--json", "--home", home)
    assert [r["status"] for r in json.loads(listed.output)] == ["withdrawn", "denied", "approved"]
    again = run("access", "request", "shared-two", "--team", "beta", "--reason", "local", "--home", home)
    assert again.exit_code == 0, again.output
    local = _request_id(again.output)
    decided = run("access", "approve", local, "--expires-at", "2030-01-01T00:00:00Z", "--home", home)
    assert decided.exit_code == 0, decided.output
    assert "until 2030-01-01T00:00:00+00:00" in decided.output
    regranted = run(
        "team", "grant", "beta", "--endpoint", "shared-two", "--expires-in", "12h", "--home", home
    )
    assert regranted.exit_code == 0, regranted.output
    assert "may call 'shared-two' until" in regranted.output
    bad = run("team", "grant", "beta", "--endpoint", "shared-two", "--expires-in", "soon", "--home", home)
    assert bad.exit_code == 1
    assert "invalid duration 'soon'" in str(bad.exception)
    trail = run("audit", "list", "--action", "access_request.", "--home", home)
    assert trail.output.count("access_request.create") == 4
    assert "local:" in trail.output
