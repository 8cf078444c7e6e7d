"""The installed ``berth`` executable, run as a process: exit codes, messages, ``--url`` and ``serve``."""

from __future__ import annotations

import json
import os
import socket
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
    predicted = berth("predict", "churn@production", "--json", records(rows), home=home)
    answer = json.loads(succeeded(predicted))
    assert answer == {"predictions": frame_pipeline.model.predict(rows).tolist()}
    assert "AUTHENTICATION IS OFF" not in predicted.stderr  # in this process: no server listens


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
    failed(missing, 3, "error [model_not_found]:")


def test_errors_are_one_line_and_an_exit_code(tmp_path: Path, model_files: ModelFiles) -> None:
    home = tmp_path / "home"
    home.mkdir()  # a home made now would be said first
    unreachable = f"http://127.0.0.1:{free_port()}"
    untrusted, usage, no_server = berth_at_once(
        ("push", model_files.lr_joblib, "--name", "lr", "--home", home),
        ("push",),
        ("models", "list", "--url", unreachable),
    )
    failed(untrusted, 1, "error [untrusted_artifact]: ")
    failed(usage, 2, "Usage: berth push")
    failed(no_server, 5, "error [unavailable]: cannot reach berth")


def test_exit_codes_say_not_found_and_refused(url: str, tmp_path: Path) -> None:
    """3: not found: a model, a prediction id, a registry."""
    here = tmp_path / "empty"
    here.mkdir()
    ghost, feedback = berth_at_once(
        ("models", "show", "ghost", "--url", url),
        ("feedback", "send", "no-such-prediction", "--label", "x", "--url", url),
    )
    failed(ghost, 3, "error [model_not_found]:")
    assert feedback.returncode == 3, feedback.stderr
    assert feedback.stdout == "stored 0, unknown 1\n  unknown prediction id: no-such-prediction\n"
    assert "error [record_not_found]: 1 prediction id(s) unknown" in feedback.stderr
    nowhere = subprocess.run(
        [berth_executable(), "models", "list"],
        cwd=here,
        capture_output=True,
        text=True,
        env=_env(None),
        timeout=120,
    )
    failed(nowhere, 3, "error [registry_not_found]: no registry in")
    assert list(here.iterdir()) == []  # nothing made


def test_no_registry_is_made_unless_asked_for(tmp_path: Path) -> None:
    """Without --home or BERTH_HOME the CLI uses ./.berth only when it is there; `berth init` makes
    it; a home named on the command line is made, and the command says so."""

    def here(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [berth_executable(), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=_env(None),
            timeout=120,
        )

    failed(here("models", "list"), 3, "`berth init` makes one here")
    assert not (tmp_path / ".berth").exists()
    assert succeeded(here("init")) == f"made a registry in {tmp_path / '.berth'}\n"
    assert succeeded(here("init")) == f"a registry is already in {tmp_path / '.berth'}\n"
    listed = here("models", "list")
    assert succeeded(listed) == "(none)\n"
    assert f"berth: using the registry in {tmp_path / '.berth'}" in listed.stderr
    named = here("models", "list", "--home", "other")
    assert succeeded(named) == "(none)\n"
    assert named.stderr == f"berth: a new registry in {tmp_path / 'other'}\n"
    again = here("models", "list", "--home", "other")
    assert again.stderr == ""  # named, and there: nothing to say


def test_serve_on_a_busy_port_fails_before_loading_a_model(tmp_path: Path, model_files: ModelFiles) -> None:
    home = tmp_path / "home"
    succeeded(berth("push", model_files.churn_skops, "--name", "churn", "--home", home))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        rest, grpc = berth_at_once(
            ("serve", "--home", home, "--port", busy),
            ("serve", "--home", home, "--port", free_port(), "--grpc-port", busy),
        )
    for process, what in ((rest, "REST"), (grpc, "gRPC")):
        assert process.returncode == 6, process.stderr
        assert f"error [address_in_use]: cannot serve {what} on 127.0.0.1:{busy}: the port is in use" in (
            process.stderr
        )
        assert "churn" not in process.stderr  # no model was loaded (nor the server built)
        assert "Traceback" not in process.stderr


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
