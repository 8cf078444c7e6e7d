"""A real MLflow tracking server for tests, run from its own virtual environment.

MLflow is not one of berth's dependencies (berth serves MLflow models without it), so the tests
build a virtual environment for it once, keyed by `PACKAGES` (the pinned MLflow and the model
libraries, the same versions as berth's), under ``~/.cache/berth-test/`` (``BERTH_TEST_CACHE``
moves it): the first run installs it from the package index (about a minute), later runs find it.
Building it is serialised by a file lock (xdist workers), and a folder without its ``ready`` mark
(a build cut short) is built again.

`mlflow_server` then starts ``mlflow server`` as in production (SQLite backend, a local artifact
root served through the tracking server with ``--serve-artifacts``) on a free loopback port, and
waits for ``/health``. `script` runs ``mlflow_models.py`` with the environment's Python: it saves
model folders, logs and registers models, and writes ``mlflow.pyfunc``'s predictions for the
tests to compare berth's with.

When the environment cannot be built or the server does not start, the tests that need it are
skipped with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import httpx

from tests.support.cached_venv import cached_venv
from tests.support.process_group import log_tail, stop_group
from tests.support.servers import free_port
from tests.support.unavailable import unavailable

MLFLOW_PIN: Final = "3.17.2"
PACKAGES: Final = (
    f"mlflow=={MLFLOW_PIN}",
    "scikit-learn==1.9.1",
    "skops==0.16.0",
    "xgboost-cpu==3.2.0",
    "lightgbm==4.7.0",
    "onnx==1.23.2",
    "onnxruntime==1.31.1",
    "skl2onnx==1.20.0",
)
INSTALL_TIMEOUT_S: Final = 900.0
START_TIMEOUT_S: Final = 300.0
SCRIPT: Final = Path(__file__).with_name("mlflow_models.py")


@dataclass(frozen=True)
class MlflowServer:
    url: str
    python: Path
    """The Python of MLflow's environment (runs `mlflow.pyfunc` for the tests)."""


def _unavailable(message: str) -> NoReturn:
    unavailable(message, must_run="the MLflow tests")
    raise AssertionError("unreachable")


def mlflow_venv() -> Path:
    """The cached environment with MLflow (built on first use); its folder."""
    return cached_venv(
        f"mlflow-{MLFLOW_PIN}", PACKAGES, install_timeout_s=INSTALL_TIMEOUT_S, must_run="the MLflow tests"
    )


@contextlib.contextmanager
def mlflow_server(venv: Path, folder: Path) -> Iterator[MlflowServer]:
    """``mlflow server`` on a free loopback port, its store and artifacts in `folder`; stopped after."""
    port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(venv / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn worker is a child: stop the whole group
        env={**os.environ, "MLFLOW_TRACKING_URI": ""},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                _unavailable(
                    f"mlflow server exited with {process.returncode}: {log_tail(folder / 'server.log')}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                _unavailable(f"mlflow server did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        yield MlflowServer(url, venv / "bin" / "python")
    finally:
        stop_group(process)
        log.close()


@contextlib.contextmanager
def script(python: Path, out: Path, *args: str) -> Iterator[Callable[[], dict[str, Any]]]:
    """`SCRIPT` started in MLflow's environment (`python`) with ``MODE OUT ARGS`` (`args` starting with
    the mode); yields a call that waits for it and gives the JSON it wrote (``OUT/<mode>.json``).
    Stopped on the way out if still running."""
    mode = args[0]
    log_path = out / f"{mode}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # -I: the script's folder (tests/support) is not put on the path
            [str(python), "-I", "-W", "ignore", str(SCRIPT), mode, str(out), *args[1:]],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "GIT_PYTHON_REFRESH": "quiet", "MLFLOW_TRACKING_URI": ""},
        )

        def finish() -> dict[str, Any]:
            if process.wait(timeout=600) != 0:
                raise RuntimeError(f"{SCRIPT.name} {mode} failed: {log_tail(log_path)}")
            found: dict[str, Any] = json.loads((out / f"{mode}.json").read_text())
            return found

        try:
            yield finish
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
