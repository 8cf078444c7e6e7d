"""README.md is tested: every command of its shell and Python blocks runs as written.

Each block is run by one test (`RUN_BY`, checked by `test_every_block_is_run_by_a_test`), in a fresh
folder (a reader's checkout, with the project's ``.venv``) and a fresh berth home, against real
servers started the way the README starts them, on free ports (`tests.docs.terminal`). Blocks that
build on earlier ones run in README order inside one test. `Script` walks a block's commands in
order and fails on one that no test ran.

One command is not run as written: ``make test`` is the suite itself; its recipe is checked
instead (``make -n test``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import pandas as pd
import pytest

import berth
from tests.docs.readme_blocks import Block, readme_blocks, the_block
from tests.docs.teams import turned_on
from tests.docs.terminal import PythonSession, Script, Terminal
from tests.support.servers import free_port, wait_ready
from tests.support.unavailable import unavailable

REPO: Final = Path(__file__).resolve().parents[2]
BLOCKS: Final = readme_blocks(REPO / "README.md")
DEMO_TIMEOUT_S: Final = 1500.0  # trains three models on a busy 2-core machine
SERVER_TIMEOUT_S: Final = 180.0

RUN_BY: Final = {
    "make run": "test_make_run_serves_the_demo_and_its_curls_answer, and make test's recipe",
    "curl -s -X POST http://127.0.0.1:8080/v1/models/bank-marketing:predict": (
        "test_make_run_serves_the_demo_and_its_curls_answer"
    ),
    "import berth": "test_the_python_walkthrough_then_endpoints_then_security",
    "berth serve": "test_the_python_walkthrough_then_endpoints_then_security",
    'berth.Client("http://127.0.0.1:8080")': "test_the_python_walkthrough_then_endpoints_then_security",
    "# after two more pushes of the model above": "test_the_python_walkthrough_then_endpoints_then_security",
    "berth token create --admin": "test_the_python_walkthrough_then_endpoints_then_security",
    "berth init": "test_the_command_line_reference",
}
"""Each README block (by the start of its first line) and the test that runs it."""


def block(starts: str) -> Block:
    return the_block(BLOCKS, starts)


def test_every_block_is_run_by_a_test() -> None:
    unclaimed = [f"line {b.line}: {b.first_line}" for b in BLOCKS if not _claimed(b)]
    assert unclaimed == [], "README blocks that no test runs (add them to RUN_BY and run them)"
    for starts in RUN_BY:
        block(starts)  # each claim names exactly one block


def _claimed(candidate: Block) -> bool:
    return sum(candidate.first_line.startswith(starts) for starts in RUN_BY) == 1


@pytest.fixture
def reader(tmp_path: Path, reader_env: dict[str, str]) -> Terminal:
    """A reader's folder with the project's ``.venv`` in it (what ``make install`` made)."""
    folder = tmp_path / "reader"
    folder.mkdir()
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return Terminal(folder, reader_env)


# -- make run / make test ------------------------------------------------------------------------


def test_make_test_is_lint_types_layers_then_the_whole_suite(reader_env: dict[str, str]) -> None:
    """``make test`` runs this suite, so it is not run here: its recipe is checked instead."""
    script = Script(block("make run"))
    script.next("make run")
    written = script.next("make test").text
    script.done()
    assert "ruff, mypy --strict, the layer contracts and the whole test suite" in written
    recipe = subprocess.run(
        ["make", "-n", "test"],
        cwd=REPO,
        env=reader_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    steps = [
        "ruff check src tests",
        "ruff format --check",
        "/mypy",
        "lint-imports",
        "pytest -n",
        "pytest -m alone",
    ]
    positions = [recipe.find(step) for step in steps]
    assert -1 not in positions, recipe
    assert positions == sorted(positions), recipe
    assert re.search(r"^strict = true$", (REPO / "pyproject.toml").read_text(), re.MULTILINE)


@pytest.fixture
def set_up_checkout(reader_env: dict[str, str]) -> None:
    """``make run`` must only start the demo: (re)installing the virtual environment is not its test."""
    stamp = subprocess.run(
        ["make", "-q", ".venv/.berth-run"], cwd=REPO, env=reader_env, capture_output=True, timeout=60
    )
    if stamp.returncode != 0:
        unavailable("the checkout's .venv is missing or stale: `make install` first", must_run="make run")


class TestMakeRun:
    """A class of its own: `--dist loadscope` runs it beside the other long README tests."""

    @pytest.mark.slow
    @pytest.mark.timeout(DEMO_TIMEOUT_S + 600)
    @pytest.mark.usefixtures("set_up_checkout")
    def test_make_run_serves_the_demo_and_its_curls_answer(self, reader: Terminal, tmp_path: Path) -> None:
        """``make run`` in the checkout (a fresh home, a free port): it trains, says where it serves,
        the curls it prints and the one the README shows answer, the story is told in three lines,
        a worker runs beside the server with The Voice's retrain trigger, and Ctrl-C stops both."""
        port = free_port()
        reader.env.update(BERTH_HOME=str(tmp_path / "demo-home"), BERTH_PORT=str(port))
        reader.placeholders["8080"] = str(port)
        script = Script(block("make run"))
        with reader.background(script.next("make run").text, cwd=REPO) as demo:
            address = demo.wait_for(r"berth serves the demo models at (http://\S+)", DEMO_TIMEOUT_S)[1]
            assert address == f"http://127.0.0.1:{port}"
            wait_ready(address, timeout=SERVER_TIMEOUT_S, process=demo.process)
            assert "AUTHENTICATION IS OFF" in demo.output  # "and says so loudly"
            for page in ("/ui/", "/docs"):
                assert httpx.get(f"{address}{page}", timeout=30).status_code == 200
            printed = printed_curls(demo.output)
            assert len(printed) == 3, demo.output
            answers = [json.loads(reader.run(curl).out) for curl in printed]
            models, bank, voice = answers
            assert {m["name"] for m in models} >= {"bank-marketing", "bike-demand", "voice-classifier"}
            assert bank["model_name"] == "bank-marketing"
            assert [(o["name"], o["data"][0] in ("yes", "no")) for o in bank["outputs"]] == [
                ("predict", True)
            ]
            assert voice["parameters"]["endpoint"] == "feedback-router"
            assert [o["name"] for o in voice["outputs"]] == ["category", "team", "confidence"]

            readme_curl = Script(block("curl -s -X POST http://127.0.0.1:8080/v1/"))
            mlflow = readme_curl.next("curl -s -X POST")
            readme_curl.done()
            assert json.loads(reader.run(mlflow.text).out) == mlflow.shown_output == {"predictions": ["no"]}

            worker = int(demo.wait_for(r"a berth worker, pid (\d+)", 30)[1])
            story = re.findall(r"^  ([123])\. (.*)$", demo.output, re.MULTILINE)
            assert [n for n, _ in story] == ["1", "2", "3"], demo.output
            assert "every 20 corrections" in story[1][1]
            assert f"{address}/ui/#/models/voice-classifier" in story[2][1]
            assert _running(worker)
            triggers = httpx.get(f"{address}/api/v1/jobs/triggers", timeout=30).json()
            assert [(t["name"], t["kind"], t["corrections_count"]) for t in triggers] == [
                ("voice-retrain", "retrain", 20)
            ]
        assert "Application shutdown complete" in demo.output  # Ctrl-C stops it
        deadline = time.monotonic() + 60
        while _running(worker):  # and its worker
            assert time.monotonic() < deadline, f"the demo's worker {worker} outlived it"
            time.sleep(0.1)


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def printed_curls(output: str) -> list[str]:
    """The ``curl`` commands ``berth demo`` prints (one may go on over a ``\\`` line end)."""
    lines = output.splitlines()
    curls = []
    for index, line in enumerate(lines):
        start = line.find("curl -s")
        if start < 0:
            continue
        curl = line[start:]
        follow = index + 1
        while curl.endswith("\\"):
            curl += "\n" + lines[follow]
            follow += 1
        curls.append(curl)
    return curls


# -- the Python walkthrough, then endpoints, then security ----------------------------------------


class TestPythonWalkthrough:
    """A class of its own: `--dist loadscope` runs it beside the other long README tests."""

    @pytest.mark.slow
    @pytest.mark.timeout(1200)
    def test_the_python_walkthrough_then_endpoints_then_security(self, reader: Terminal) -> None:
        python = PythonSession(reader.folder)
        port = free_port()
        reader.placeholders["8080"] = str(port)
        url = f"http://127.0.0.1:{port}"

        python.run(block("import berth").text)
        registry = berth.open_registry(home=reader.folder / ".berth")  # "into ./.berth"
        try:
            assert registry.get_version("iris", "production").number == 1
        finally:
            registry.close()

        serving = Script(block("berth serve"))
        reader.env["BERTH_PORT"] = str(port)  # it serves on the default port: a free one instead of 8080
        with reader.background(serving.next("berth serve").text) as server:
            wait_ready(url, timeout=SERVER_TIMEOUT_S, process=server.process)
            assert f"Uvicorn running on {url}" in server.output  # "on 127.0.0.1:8080"
            serving.done()

            answer = python.run(reader.fill(block('berth.Client("http://127.0.0.1:8080")').text))
            x, model = python.namespace["X"], python.namespace["model"]
            assert isinstance(answer, pd.DataFrame)  # "a DataFrame: predict"
            assert list(answer.columns) == ["predict"]
            assert answer["predict"].tolist() == model.predict(x.head(3)).tolist()

            walk_through_endpoints(reader, python, url)
        walk_through_security(reader)


def walk_through_endpoints(reader: Terminal, python: PythonSession, url: str) -> None:
    endpoints = block("# after two more pushes of the model above")
    [push] = re.findall(r"berth\.push\([^)]*\)", endpoints.first_line)
    assert "twice: versions 2 and 3" in endpoints.first_line
    assert [python.run(push).number for _ in range(2)] == [2, 3]
    script = Script(endpoints)

    created = reader.run(script.next("berth endpoint create scoring").text).out
    assert "endpoint scoring revision 1: iris@production=90, iris:2=10" in created
    wait_for_status(f"{url}/v2/models/scoring/ready", {})
    reader.run(script.next('echo \'{"inputs"').text)
    request = json.loads((reader.folder / "request.json").read_text())
    answer = json.loads(reader.run(script.next("curl -s -X POST").text).out)
    assert answer["parameters"]["endpoint"] == "scoring"
    assert answer["parameters"]["variant"] in ("iris@production", "iris:2")
    row = pd.DataFrame({t["name"]: t["data"] for t in request["inputs"]})
    assert answer["outputs"][0]["data"] == python.namespace["model"].predict(row).tolist()

    canary = reader.run(script.next("berth endpoint canary scoring iris:3").text).out
    assert "revision 2: iris@production=90, iris:2=10; canary iris:3 at 5%" in canary
    rolled_back = reader.run(script.next("berth endpoint rollback scoring").text).out
    assert "revision 3: iris@production=90, iris:2=10\n" in rolled_back  # the canary is gone
    script.done()


def walk_through_security(reader: Terminal) -> None:
    """In the same folder: the endpoint `scoring` made above is the one a team is granted."""
    script = Script(block("berth token create --admin"))
    with turned_on(reader, script):
        teams = reader.run(script.next("berth team create risk").text).out
        assert teams.splitlines() == ["team 'risk' created", "'alice' is maintainer in team 'risk'"]
        assert reader.run(script.next("berth team create fraud").text).out == "team 'fraud' created\n"
        granted = reader.run(script.next("berth team grant fraud --endpoint scoring").text).out
        assert granted == "team 'fraud' may call 'scoring'\n"
        audit = reader.run(script.next("berth audit export --format csv").text).out.splitlines()
        assert audit[0].startswith("id,at,actor,action,resource_type,resource_name")
        assert {"team.create", "member.set"} <= {row.split(",")[3] for row in audit[1:]}
        assert any(",admin," in row and "fraud" in row and "scoring" in row for row in audit[1:]), audit
        script.done()


def wait_for_status(ready_url: str, headers: dict[str, str]) -> None:
    """A change made in the registry reaches the server on its next poll: wait for it to be served."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while httpx.get(ready_url, headers=headers, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, f"{ready_url} not ready after {SERVER_TIMEOUT_S} s"
        time.sleep(0.1)


# -- the command-line reference ------------------------------------------------------------------


@pytest.fixture
def churn_files(reader: Terminal) -> Any:
    """The files the reference's commands name: a churn model on `plan` and `age` as skops and as a
    joblib pickle, an input example, customers (`c.csv`) and an alert rule."""
    import joblib
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"plan": rng.choice(["basic", "plus", "pro"], 200), "age": rng.integers(18, 80, 200)}
    )
    labels = np.where((frame["plan"] == "basic") & (frame["age"] < 40), "churned", "stayed")
    features = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
    )
    model = Pipeline([("features", features), ("clf", LogisticRegression(max_iter=1000))]).fit(frame, labels)
    folder = reader.folder
    skops.io.dump(model, folder / "model.skops")
    joblib.dump(model, folder / "model.joblib")
    frame.head(5).to_csv(folder / "sample.csv", index=False)
    frame.head(20).assign(id=[f"customer-{n}" for n in range(40, 60)]).to_csv(folder / "c.csv", index=False)
    rule = {
        "name": "scoring-errors",
        "target": "scoring",
        "metric": "error_rate",
        "op": ">",
        "threshold": 0.05,
        "window_s": 3600,
        "min_samples": 100,
        "webhook_url": "https://hooks.example.com/berth",
    }
    (folder / "rule.json").write_text(json.dumps(rule))
    return model


class TestCommandLineReference:
    """A class of its own: `--dist loadscope` runs it beside the other long README tests."""

    @pytest.mark.slow
    @pytest.mark.timeout(1500)
    def test_the_command_line_reference(self, reader: Terminal, churn_files: Any) -> None:
        model = churn_files
        script = Script(block("berth init"))
        registry_commands(reader, script, model)
        port, grpc_port = free_port(), free_port()
        reader.placeholders.update(
            {"host:8080": f"127.0.0.1:{port}", "8080": str(port), "8081": str(grpc_port)}
        )
        url = f"http://127.0.0.1:{port}"
        token = reader.run("berth token create --admin --home ./.berth").out.strip()  # the Security section's
        reader.env["BERTH_TOKEN"] = token  # "with --token or BERTH_TOKEN when it authenticates"
        auth = {"authorization": f"Bearer {token}"}
        with reader.background(script.next("berth serve --home ./.berth --auth tokens").text) as server:
            wait_ready(url, timeout=SERVER_TIMEOUT_S, process=server.process)
            server.wait_for(
                rf"gRPC \(Open Inference Protocol V2\) on 0\.0\.0\.0:{grpc_port}", SERVER_TIMEOUT_S
            )
            assert httpx.get(f"{url}/api/v1/models", timeout=30).status_code == 401
            endpoint_commands(reader, script, model, url, auth)
            job_commands(reader, script)
            record_and_alert_commands(reader, script, url, auth)
        script.done()


def registry_commands(reader: Terminal, script: Script, model: Any) -> None:
    made = reader.run(script.next("berth init").text).out
    assert made == f"made a registry in {reader.folder / '.berth'}\n"
    pushed = reader.run(script.next("berth push model.skops --name churn --alias production").text).out
    assert pushed.startswith("pushed churn version 1 (production) [sklearn, sha256 ")
    pickle = script.next("berth push model.joblib --name churn --trust-pickle").text
    refused = reader.run(pickle.replace(" --trust-pickle", ""), ok=False)  # "refused without the flag"
    assert "error [untrusted_artifact]: model.joblib is a pickle" in refused.err
    assert "--trust-pickle (CLI)" in refused.err
    assert reader.run(pickle).out.startswith("pushed churn version 2 [sklearn, ")
    batching = reader.run(script.next("berth push model.skops --name churn --max-batch-size 32").text).out
    assert batching.startswith("pushed churn version 3 [sklearn, ")
    listed = reader.run(script.next("berth models list").text).out.splitlines()
    assert listed[1].split() == ["churn", "default", "3", "production=1"]
    shown = reader.run(script.next("berth models show churn").text).out
    assert "aliases: production -> v1" in shown
    assert [line.split()[0] for line in shown.splitlines()[3:]] == ["1", "2", "3"]
    moved = reader.run(script.next("berth alias set churn production 3").text).out
    assert "churn@production: v1 -> v3" in moved
    history = reader.run(script.next("berth alias history churn production").text).out.splitlines()
    assert len(history) == 2, history  # oldest first
    assert "churn@production: (new) -> v1" in history[0]
    assert "churn@production: v1 -> v3" in history[1]
    local = reader.run(script.next("berth predict churn@production --json").text)
    expected = model.predict(pd.DataFrame({"plan": ["pro"], "age": [41]})).tolist()
    assert json.loads(local.out) == {"predictions": expected}
    assert "AUTHENTICATION IS OFF" not in local.err  # no server listens for an in-process prediction


def endpoint_commands(reader: Terminal, script: Script, model: Any, url: str, auth: dict[str, str]) -> None:
    assert reader.run(script.next("berth team create risk").text).out == "team 'risk' created\n"
    created = reader.run(script.next("berth endpoint create scoring").text).out
    assert "endpoint scoring revision 1: churn@production=90, churn:1=10" in created
    canary = reader.run(script.next("berth endpoint canary scoring churn:2").text).out
    assert "canary churn:2 at 5%" in canary
    rolled_back = reader.run(script.next("berth endpoint rollback scoring").text).out
    assert "revision 3: churn@production=90, churn:1=10\n" in rolled_back
    wait_for_status(f"{url}/v2/models/scoring/ready", auth)
    answer = reader.run(script.next("berth predict scoring --json").text).out
    expected = model.predict(pd.DataFrame({"plan": ["pro"], "age": [41]})).tolist()
    assert json.loads(answer) == {"predictions": expected}  # /v1 serves an endpoint
    stats = reader.run(script.next("berth endpoint stats scoring --url").text).out
    # per server process, and there are two: the one asked may not have answered the prediction
    assert stats.startswith("VARIANT  PERIOD  REQUESTS") or stats == "(none)\n", stats
    entities = reader.run(script.next("berth entities put customers c.csv --key id").text).out
    assert entities == "wrote 20 entities to customers\n"


def job_commands(reader: Terminal, script: Script) -> None:
    queued = reader.run(script.next("cp c.csv .berth/ && berth job run batch-score").text).out
    found = re.fullmatch(r"job (\d+) queued \(batch-score\)\n", queued)
    assert found is not None, queued
    reader.placeholders["ID"] = found[1]
    listed = reader.run(script.next("berth job list").text).out.splitlines()
    assert listed[1].split()[:3] == [found[1], "batch-score", "queued"]
    shown = reader.run(script.next("berth job show ID").text).out
    assert shown.startswith(f"job {found[1]} batch-score: queued")
    assert '"input": "c.csv"' in shown
    assert reader.run(script.next("berth job cancel ID").text).out == f"job {found[1]} cancelled\n"
    with reader.background(script.next("berth worker --home ./.berth --concurrency 2").text) as worker:
        worker.wait_for(r"worker \S+: kinds [^\n]*batch-score[^\n]*, concurrency 2", 120)
        added = reader.run(script.next("berth trigger add nightly batch-score --every 86400").text).out
        assert added == "trigger nightly added (batch-score)\n"


def record_and_alert_commands(reader: Terminal, script: Script, url: str, auth: dict[str, str]) -> None:
    wait_for_records(f"{url}/api/v1/records?endpoint=scoring", auth)  # moved in by the ingester
    records = reader.run(script.next("berth records list --endpoint scoring --since 1h").text).out
    header, row = records.splitlines()
    assert header.split()[:3] == ["PREDICTION_ID", "RECORDED_AT", "ENDPOINT"]
    prediction_id, _, endpoint, variant, *_ = row.split()
    assert (endpoint, variant) in {("scoring", "churn@production"), ("scoring", "churn:1")}
    reader.placeholders["PREDICTION_ID"] = prediction_id
    exported = reader.run(script.next("berth records export --endpoint scoring --out r.parquet").text).out
    assert exported.startswith("exported 1 records to r.parquet")
    assert pd.read_parquet(reader.folder / "r.parquet")["prediction_id"].tolist() == [prediction_id]
    sent = reader.run(script.next("berth feedback send PREDICTION_ID --label churned").text).out
    assert sent == "stored 1, unknown 0\n"
    (reader.folder / "truth.csv").write_text(f"prediction_id,label\n{prediction_id},stayed\n")
    imported = reader.run(script.next("berth feedback import truth.csv").text).out
    assert imported.endswith("stored 1, unknown 0\n")
    erase = script.next("berth records delete --entity customer-42").text
    erased = reader.run(erase, input="y\n").out  # it asks first
    assert "erase every record and feedback of entity 'customer-42'? [y/N]" in erased
    assert "erased entity 'customer-42': 0 records" in erased
    monitored = reader.run(script.next("berth monitor scoring --since 7d").text).out
    assert monitored.startswith("scoring: ")
    assert "traffic: 1 answered" in monitored
    compared = reader.run(script.next("berth monitor scoring --since 7d --compare").text).out
    assert compared.startswith("churn@production vs churn:1")
    rule = json.loads(reader.run(script.next("berth alert add @rule.json").text).out)
    assert (rule["name"], rule["state"]) == ("scoring-errors", "ok")
    assert rule["secret"].startswith("whsec_")  # shown once
    rules = reader.run(script.next("berth alert list").text).out.splitlines()
    assert rules[1].split()[:3] == ["scoring-errors", "scoring", "error_rate"]
    assert reader.run(script.next("berth alert log").text).out == "(none)\n"


def wait_for_records(records_url: str, headers: dict[str, str]) -> None:
    """Records reach the database from the journal by a separate ingester: wait for the first."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while not httpx.get(records_url, headers=headers, timeout=30).json().get("records"):
        assert time.monotonic() < deadline, f"no record at {records_url} after {SERVER_TIMEOUT_S} s"
        time.sleep(0.2)
