"""``berth models|endpoint consumers/deprecate/deprecations/undeprecate`` over ``--home`` (the embedded
implementation; the same commands over ``--url``: tests/security/test_consumers.py)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import berth
from berth.cli.main import cli
from tests.conftest import Trained


def test_deprecations_over_home(tmp_path: Path, lr: Trained) -> None:
    home = str(tmp_path / "home")
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    spec = json.dumps({"targets": [{"target": "lr:2"}]})
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--home", home])
        assert result.exit_code == 0, result.output
        return result.output

    run("endpoint", "create", "scoring", "--spec", spec)
    made = run("models", "deprecate", "lr", "--version", "1", "--sunset", "2031-03-01", "--message", "use 2")
    assert "Sunset: Sat, 01 Mar 2031 00:00:00 GMT" in made
    run("endpoint", "deprecate", "scoring", "--sunset", "2031-06-01T12:00:00Z")
    assert json.loads(run("models", "deprecations", "lr", "--json"))[0]["message"] == "use 2"
    endpoint = json.loads(run("endpoint", "deprecations", "scoring", "--json"))
    assert [(d["scope"], d["sunset_at"]) for d in endpoint] == [("endpoint", "2031-06-01T12:00:00+00:00")]
    assert json.loads(run("models", "consumers", "lr", "--json")) == []
    assert "(none)" in run("endpoint", "consumers", "scoring")
    run("models", "undeprecate", "lr", "--version", "1")
    assert json.loads(run("models", "deprecations", "lr", "--json")) == []
    refused = runner.invoke(
        cli, ["models", "deprecate", "lr", "--version", "7", "--sunset", "2031-03-01", "--home", home]
    )
    assert isinstance(refused.exception, berth.BerthError)  # main() prints it with its exit status
    assert refused.exception.code is berth.ErrorCode.VERSION_NOT_FOUND
