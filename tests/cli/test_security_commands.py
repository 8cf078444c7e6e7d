"""``berth token|team|audit``: the first admin token from the database, then the same through a server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

import berth
from berth.cli.main import cli
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.support.servers import server_in_thread


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_bootstrap_locally_then_administer_through_a_server(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="churn", home=home, input_example=lr.x[:2], team="risk")
    created = run("token", "create", "--admin", "--home", home)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("berth_")
    assert "shown once" in created.stderr
    assert run("team", "create", "fraud", "--home", home).exit_code == 0
    assert run("team", "add-member", "risk", "ann", "--role", "maintainer", "--home", home).exit_code == 0
    refused = run("team", "add-member", "risk", "bo", "--role", "owner", "--home", home)
    assert refused.exit_code == 1
    assert "unknown role 'owner'" in str(refused.exception)
    listed = run("token", "list", "--home", home)
    assert token[:12] in listed.output
    assert token not in listed.output

    settings = Settings(home=home, poll_interval_s=0.1, auth="tokens")
    with server_in_thread(settings) as url:
        denied = run("models", "list", "--url", url)
        assert denied.exit_code == 1
        assert "unauthenticated" in repr(denied.exception)
        models = run("models", "list", "--url", url, "--token", token)
        assert models.exit_code == 0
        assert "churn" in models.output
        issued = run("token", "create", "--principal", "ann", "--json", "--url", url, "--token", token)
        assert issued.exit_code == 0, issued.output
        ann = json.loads(issued.output)
        granted = run("team", "grant", "fraud", "--endpoint", "churn", "--url", url, "--token", ann["token"])
        assert granted.exit_code == 1
        assert "forbidden" in repr(granted.exception)
        assert (
            run("team", "grant", "fraud", "--endpoint", "churn", "--url", url, "--token", token).exit_code
            == 0
        )
        assert run("token", "revoke", str(ann["id"]), "--url", url, "--token", token).exit_code == 0
        gone = run("models", "list", "--url", url, "--token", ann["token"])
        assert gone.exit_code == 1
        assert "token revoked" in str(gone.exception)
        trail = run("audit", "list", "--url", url, "--token", token)
        assert trail.exit_code == 0
        for action in ("token.create", "team.create", "member.set", "grant.create", "token.revoke"):
            assert action in trail.output
    exported = run("audit", "export", "--format", "csv", "--action", "token.", "--home", home)
    assert exported.exit_code == 0
    rows = exported.output.strip().splitlines()
    assert rows[0].startswith("id,at,actor,action")
    assert len(rows) == 4
    assert "local:" in rows[1]  # the bootstrap token: made by whoever could open the database
