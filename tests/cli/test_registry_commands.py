"""``berth push``, ``berth models …``, ``berth alias …`` on a home (``--home``) and a server (``--url``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from berth.cli.main import cli
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.conftest import Trained
from tests.support.servers import server_in_thread

MOVE = re.compile(r"\S+@\S+: \S+ -> \S+")
PUSHED = re.compile(r"^pushed (\S+) version (\d+)(?: \(([^)]*)\))? \[(\w+), sha256 ([0-9a-f]{12})\]$")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(params=["home", "url"])
def where(request: pytest.FixtureRequest, home: Path) -> Iterator[list[str]]:
    """``--home DIR`` (embedded) or ``--url URL`` (a server on that home): same commands, same answers."""
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield ["--url", url]


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def ok(*args: str | Path, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def ok_json(*args: str | Path) -> Any:
    return json.loads(ok(*args))


def berth_error(result: Result) -> BerthError:
    """The error a command stopped with (``berth``'s entry point prints it as ``error [code]: …``)."""
    assert result.exit_code == 1
    assert isinstance(result.exception, BerthError), repr(result.exception)
    return result.exception


def test_push_prints_the_new_version(where: list[str], model_files: ModelFiles) -> None:
    out = ok("push", model_files.churn_skops, "--name", "churn", *where).strip()
    match = PUSHED.match(out)
    assert match is not None, out
    assert match.group(1, 2, 4) == ("churn", "1", "sklearn")
    assert match.group(3) is None
    out = ok("push", model_files.churn_skops, "--name", "churn", "--alias", "production", *where)
    assert PUSHED.match(out.strip()).group(2, 3) == ("2", "production")  # type: ignore[union-attr]


def test_push_with_metadata_and_an_example(
    where: list[str], model_files: ModelFiles, tmp_path: Path, frame_pipeline: Trained
) -> None:
    docs = tmp_path / "card.md"
    docs.write_text("# Churn\nPredicts churn.")
    ok(
        "push",
        model_files.churn_skops,
        "--name",
        "churn",
        "--metric",
        "auc=0.91",
        "--metric",
        "f1=0.5",
        "--param",
        "C=1.0",
        "--tag",
        "dataset=2024-01",
        "--alias",
        "production",
        "--alias",
        "staging",
        "--team",
        "growth",
        "--description",
        "Who will leave",
        "--docs",
        docs,
        "--training-data",
        "s3://data/churn.parquet",
        "--example",
        model_files.churn_example,
        *where,
    )
    version = ok_json("models", "version", "churn", "1", *where)
    assert version["model"] == "churn"
    assert version["flavor"] == "sklearn"
    assert version["metadata"]["metrics"] == {"auc": 0.91, "f1": 0.5}
    assert version["metadata"]["params"] == {"C": "1.0"}
    assert version["metadata"]["tags"] == {"dataset": "2024-01"}
    assert version["metadata"]["docs"] == "# Churn\nPredicts churn."
    assert version["metadata"]["training_data"] == "s3://data/churn.parquet"
    assert version["aliases"] == "production, staging"
    assert len(version["sha256"]) == 64
    assert [i["name"] for i in version["signature"]["inputs"]] == ["plan", "age", "spend"]
    assert [i["name"] for i in version["input_example"]["inputs"]] == ["plan", "age", "spend"]
    assert version["input_example"]["inputs"][0]["data"] == frame_pipeline.x["plan"].head(3).tolist()
    model = ok_json("models", "show", "churn", "--json", *where)["model"]
    assert model["team"] == "growth"
    assert model["description"] == "Who will leave"
    assert model["aliases"] == {"production": 1, "staging": 1}


def test_push_onnx_and_a_trusted_pickle(where: list[str], model_files: ModelFiles) -> None:
    out = ok("push", model_files.lr_onnx, "--name", "lr", *where)
    assert PUSHED.match(out.strip()).group(4) == "onnx"  # type: ignore[union-attr]

    refused = run("push", model_files.lr_joblib, "--name", "lr", *where)
    assert berth_error(refused).code is ErrorCode.UNTRUSTED_ARTIFACT
    assert [v["version"] for v in ok_json("models", "show", "lr", "--json", *where)["versions"]] == [1]

    out = ok("push", model_files.lr_joblib, "--name", "lr", "--trust-pickle", *where)
    assert PUSHED.match(out.strip()).group(2, 4) == ("2", "sklearn")  # type: ignore[union-attr]


def test_push_a_pyfunc_folder(where: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "doubler"
    folder.mkdir()
    (folder / "berth_pyfunc.json").write_text('{"entry": "model:Doubler"}')
    (folder / "model.py").write_text(
        "class Doubler:\n    def load(self, path):\n        pass\n\n"
        "    def predict(self, inputs):\n        return inputs * 2\n"
    )
    example = tmp_path / "example.json"
    example.write_text(
        json.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]})
    )
    refused = run("push", folder, "--name", "doubler", "--example", example, *where)
    assert berth_error(refused).code is ErrorCode.UNTRUSTED_ARTIFACT
    out = ok("push", folder, "--name", "doubler", "--trust-pickle", "--example", example, *where)
    assert PUSHED.match(out.strip()).group(2, 4) == ("1", "pyfunc")  # type: ignore[union-attr]
    version = ok_json("models", "version", "doubler", *where)
    [spec] = version["signature"]["inputs"]
    assert spec["datatype"] == "FP64"
    assert spec["shape"][-1] == 2


def test_models_list_and_filters(where: list[str], model_files: ModelFiles) -> None:
    assert ok("models", "list", *where).strip() == "(none)"
    ok("push", model_files.churn_skops, "--name", "churn", "--team", "growth", *where)
    ok("push", model_files.lr_onnx, "--name", "lr", "--team", "risk", "--alias", "production", *where)
    table = ok("models", "list", *where).splitlines()
    assert table[0].split() == ["NAME", "TEAM", "LATEST", "ALIASES", "DESCRIPTION"]
    assert [line.split()[:4] for line in table[1:]] == [
        ["churn", "growth", "1", "-"],
        ["lr", "risk", "1", "production=1"],
    ]
    listed = ok_json("models", "list", "--json", *where)
    assert [m["name"] for m in listed] == ["churn", "lr"]
    assert [m["name"] for m in ok_json("models", "list", "--json", "--team", "risk", *where)] == ["lr"]
    assert [m["name"] for m in ok_json("models", "list", "--json", "--text", "chu", *where)] == ["churn"]
    assert ok_json("models", "list", "--json", "--tag", "k=v", *where) == []


def test_models_show_and_version(where: list[str], model_files: ModelFiles) -> None:
    ok("push", model_files.churn_skops, "--name", "churn", "--metric", "auc=0.8", *where)
    ok("push", model_files.churn_skops, "--name", "churn", "--alias", "production", *where)
    ok("push", model_files.churn_skops, "--name", "churn", *where)
    shown = ok("models", "show", "churn", *where).splitlines()
    assert shown[0] == "churn  (team default)"
    assert shown[1] == "  aliases: production -> v2"
    assert shown[2].split()[:4] == ["VERSION", "FLAVOR", "ALIASES", "METRICS"]
    assert [line.split()[:4] for line in shown[3:]] == [
        ["1", "sklearn", "-", "auc=0.8"],
        ["2", "sklearn", "production", "-"],
        ["3", "sklearn", "-", "-"],
    ]
    assert ok_json("models", "version", "churn", *where)["version"] == 2  # production
    assert ok_json("models", "version", "churn", "latest", *where)["version"] == 3
    assert ok_json("models", "version", "churn", "production", *where)["version"] == 2
    assert ok_json("models", "version", "churn", "1", *where)["metrics"] == "auc=0.8"


def test_alias_set_history_and_delete(where: list[str], model_files: ModelFiles) -> None:
    ok("push", model_files.churn_skops, "--name", "churn", *where)
    ok("push", model_files.churn_skops, "--name", "churn", *where)
    assert ok("alias", "history", "churn", *where).strip() == "(no history)"
    first = ok("alias", "set", "churn", "production", "1", "--reason", "launch", *where)
    assert re.search(r"churn@production: \(new\) -> v1.*\(launch\)$", first.strip()), first
    moved = ok("alias", "set", "churn", "production", "2", *where)
    assert "churn@production: v1 -> v2" in moved
    ok("alias", "set", "churn", "staging", "2", *where)
    rollback = ok("alias", "set", "churn", "production", "1", "--reason", "rollback", *where)
    assert "churn@production: v2 -> v1" in rollback
    deleted = ok("alias", "delete", "churn", "staging", *where)
    assert "churn@staging: v2 -> (deleted)" in deleted

    history = ok("alias", "history", "churn", "production", *where).splitlines()
    assert [MOVE.search(line).group(0) for line in history] == [  # type: ignore[union-attr]
        "churn@production: (new) -> v1",
        "churn@production: v1 -> v2",
        "churn@production: v2 -> v1",
    ]
    assert len(ok("alias", "history", "churn", *where).splitlines()) == 5
    assert ok_json("models", "show", "churn", "--json", *where)["model"]["aliases"] == {"production": 1}


# -- errors: a clear message and a non-zero exit ---------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["push", "{skops}", "--name", "m", "--metric", "auc=high"], "is not a number"),
        (["push", "{skops}", "--name", "m", "--metric", "auc"], "expected key=value"),
        (["push", "{skops}", "--name", "m", "--param", "=1"], "expected key=value"),
        (["push", "{skops}", "--name", "m", "--tag", "novalue"], "expected key=value"),
        (["push", "{skops}"], "Missing option '--name'"),
        (["push", "/no/such/file.skops", "--name", "m"], "does not exist"),
        (["push", "{skops}", "--name", "m", "--url", "http://127.0.0.1:9"], "not both"),
        (["models", "list", "--tag", "x"], "expected key=value"),
        (["models", "nope"], "No such command"),
        (["alias", "set", "m", "production", "one"], "is not a valid integer"),
        (["predict", "m@", "--json", "{}"], "NAME, NAME@ALIAS or NAME:VERSION"),
        (["predict", "m"], "Missing option '--json'"),
    ],
)
def test_bad_usage_is_a_usage_error(
    home: Path, model_files: ModelFiles, args: list[str], message: str
) -> None:
    argv = [a.replace("{skops}", str(model_files.churn_skops)) for a in args]
    result = run(*argv, "--home", home)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module", params=["home", "url"])
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_files: ModelFiles
) -> Iterator[list[str]]:
    """A registry holding churn v1, shared by the tests that only read it or fail to change it."""
    home = tmp_path_factory.mktemp("populated") / "home"
    ok("push", model_files.churn_skops, "--name", "churn", "--home", home)
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield ["--url", url]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["models", "show", "ghost"], ErrorCode.MODEL_NOT_FOUND),
        (["models", "version", "churn", "7"], ErrorCode.VERSION_NOT_FOUND),
        (["models", "version", "churn", "canary"], ErrorCode.ALIAS_NOT_FOUND),
        (["alias", "set", "churn", "production", "9"], ErrorCode.VERSION_NOT_FOUND),
        (["alias", "set", "churn", "latest", "1"], ErrorCode.INVALID_NAME),
        (["alias", "delete", "churn", "canary"], ErrorCode.ALIAS_NOT_FOUND),
        (["alias", "history", "churn", "canary"], ErrorCode.ALIAS_NOT_FOUND),
        (["push", "{csv}", "--name", "churn"], ErrorCode.UNSUPPORTED_FLAVOR),
        (["push", "{skops}", "--name", "bad name"], ErrorCode.INVALID_NAME),
        (["push", "{skops}", "--name", "churn", "--alias", "9"], ErrorCode.INVALID_NAME),
        (["push", "{skops}", "--name", "churn", "--signature", "{bad"], ErrorCode.INVALID_JSON),
    ],
)
def test_registry_errors_keep_their_code(
    populated: list[str], model_files: ModelFiles, args: list[str], code: ErrorCode
) -> None:
    where = populated
    values = {"{skops}": str(model_files.churn_skops), "{csv}": str(model_files.churn_example)}
    result = run(*[values.get(a, a) for a in args], *where)
    assert berth_error(result).code is code
    assert len(ok_json("models", "show", "churn", "--json", *where)["versions"]) == 1
