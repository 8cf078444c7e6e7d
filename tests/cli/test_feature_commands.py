"""``berth features …`` over ``--home`` (the embedded implementation; the same API over ``--url``:
tests/e2e/test_features.py and tests/security/test_feature_view_rights.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from berth.cli.main import cli


def test_define_load_read_and_delete_a_view(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--home", home])
        assert result.exit_code == 0, result.output
        return result.output

    run("init")
    made = run(
        *("features", "create", "profile", "--entity", "customer_id", "--feature", "age:int64"),
        *("--feature", "rate:float64", "--feature", "segment:string", "--on-miss", "defaults"),
        *("--default", "age=40", "--default", "rate=3.5", "--default", "segment=retail"),
    )
    assert "created feature view profile (3 features, embedded:)" in made
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,age,rate,segment,note\nc-1,41,4.857,gold,x\nc-2,35,1.25,,y\n")
    loaded = run("features", "put", "profile", str(csv))
    assert "wrote 2 entities to profile" in loaded
    assert "ignored columns (not features of profile): note" in loaded
    parquet = tmp_path / "c.parquet"
    pd.DataFrame({"customer_id": ["c-3"], "age": [70], "rate": [0.5], "segment": ["retail"]}).to_parquet(
        parquet
    )
    assert "wrote 1 entities" in run("features", "put", "profile", str(parquet))
    got = json.loads(run("features", "get", "profile", "c-1", "c-2", "c-3", "nobody"))
    assert {k: v["values"] for k, v in got.items()} == {
        "c-1": {"age": 41, "rate": 4.857, "segment": "gold"},
        "c-2": {"age": 35, "rate": 1.25, "segment": None},
        "c-3": {"age": 70, "rate": 0.5, "segment": "retail"},
    }
    assert "profile  default  customer_id  3" in run("features", "list")
    changed = json.loads(run("features", "update", "profile", '{"ttl_s": 3600}'))
    assert changed["ttl_s"] == 3600
    bad = runner.invoke(cli, ["features", "put", "profile", str(csv), "--key", "id", "--home", home])
    assert bad.exit_code != 0
    assert "no column 'id'" in bad.output
    wrong = runner.invoke(
        cli, ["features", "update", "profile", '{"source": "redis://h:1/0"}', "--home", home]
    )
    assert wrong.exit_code != 0
    assert "cannot change" in str(wrong.exception)
    assert "deleted feature view profile" in run("features", "delete", "profile")
    assert json.loads(run("features", "list", "--json")) == []
