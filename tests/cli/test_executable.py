"""The installed ``berth`` executable, run as a process: exit codes, messages, ``--url`` and ``serve``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.conftest import Trained
from tests.support.servers import berth_executable, free_port, server_in_thread, server_process


def _env(home: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"BERTH_HOME", "BERTH_URL"}}
    if home is not None:
        env["BERTH_HOME"] = str(home)  # the environment stands for --home
    return env


def berth(*args: str | Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [berth_executable(), *map(str, args)], capture_output=True, text=True, env=_env(home), timeout=120
    )


def berth_at_once(*commands: tuple[str | Path, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands run side by side (each process spends most of its time importing)."""
    processes = [
        subprocess.Popen(
            [berth_executable(), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(None),
        )
        for args in commands
    ]
    done = []
    for args, process in zip(commands, processes, strict=True):
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess([str(a) for a in args], process.returncode, out, err))
    return done


def succeeded(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr
    return process.stdout


def failed(process: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert process.returncode == code, process.stdout + process.stderr
    assert message in process.stderr
    if code == 1:  # a berth error is one line: error [code]: message
        assert len(process.stderr.strip().splitlines()) == 1, process.stderr
    assert "Traceback" not in process.stderr
    assert process.stdout == ""


def records(rows: Any) -> str:
    return json.dumps({"dataframe_records": rows.to_dict(orient="records")})


@pytest.fixture(scope="module")
def server_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exe-server") / "home"


@pytest.fixture(scope="module")
def url(server_home: Path) -> Iterator[str]:
    with server_in_thread(Settings(home=server_home, poll_interval_s=0.1)) as url:
        yield url


def test_push_and_predict_in_a_home(tmp_path: Path, model_files: ModelFiles, frame_pipeline: Trained) -> None:
    home = tmp_path / "home"
    out = succeeded(
        berth("push", model_files.churn_skops, "--name", "churn", "--alias", "production", home=home)
    )
    assert out.startswith("pushed churn version 1 (production) [sklearn, sha256 ")
    rows = frame_pipeline.x.head(3)
    answer = json.loads(succeeded(berth("predict", "churn@production", "--json", records(rows), home=home)))
    assert answer == {"predictions": frame_pipeline.model.predict(rows).tolist()}


def test_registry_commands_against_a_running_server(
    url: str, model_files: ModelFiles, frame_pipeline: Trained
) -> None:
    out = succeeded(
        berth("push", model_files.churn_skops, "--name", "churn", "--alias", "production", "--url", url)
    )
    assert out.startswith("pushed churn version 1 (production) [sklearn, sha256 ")
    rows = frame_pipeline.x.head(2)
    answer, missing = berth_at_once(
        ("predict", "churn:1", "--json", records(rows), "--url", url),
        ("models", "show", "ghost", "--url", url),
    )
    assert json.loads(succeeded(answer)) == {"predictions": frame_pipeline.model.predict(rows).tolist()}
    failed(missing, 1, "error [model_not_found]:")


def test_errors_are_one_line_and_an_exit_code(tmp_path: Path, model_files: ModelFiles) -> None:
    home = tmp_path / "home"
    unreachable = f"http://127.0.0.1:{free_port()}"
    untrusted, usage, no_server = berth_at_once(
        ("push", model_files.lr_joblib, "--name", "lr", "--home", home),
        ("push",),
        ("models", "list", "--url", unreachable),
    )
    failed(untrusted, 1, "error [untrusted_artifact]: ")
    failed(usage, 2, "Usage: berth push")
    failed(no_server, 1, "error [unavailable]: cannot reach berth")


@pytest.mark.slow
def test_serve_then_push_and_predict_over_the_network(
    tmp_path: Path, model_files: ModelFiles, lr: Trained
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with server_process(home) as url:
        out = succeeded(
            berth("push", model_files.lr_onnx, "--name", "lr", "--alias", "production", "--url", url)
        )
        assert out.startswith("pushed lr version 1 (production) [onnx, sha256 ")
        body = {"inputs": [{"name": "X", "shape": [1, 20], "datatype": "FP32", "data": lr.x[0].tolist()}]}
        answer = json.loads(succeeded(berth("predict", "lr", "--json", json.dumps(body), "--url", url)))
        assert answer["model_version"] == "1"
        labels = next(o for o in answer["outputs"] if o["datatype"] == "INT64")
        assert labels["data"] == lr.model.predict(lr.x[:1]).tolist()
