"""A real standalone Spark cluster for tests: a master and one worker, started as Spark starts them
(``spark-class org.apache.spark.deploy.master.Master`` / ``…worker.Worker``, from pyspark's own
jars) on free loopback ports, once per session, stopped at the end.

The JVMs take seconds to start, so one cluster serves every test that needs it (mark them
``@pytest.mark.spark`` and keep them few). The fixture waits for the master's JSON status to list
the worker alive, never for a fixed time. Executors run this interpreter (``PYSPARK_PYTHON``) with
this checkout's ``berth`` first on their path. Without Java or pyspark the tests are skipped with the
reason, except under ``CI=true``, where that is a failure: CI installs the ``[spark]`` extra.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

import httpx
import pytest

import berth
from tests.support.servers import free_port
from tests.support.unavailable import unavailable

START_TIMEOUT_S: Final = 120.0
WORKER_CORES: Final = 2


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    """``spark://127.0.0.1:PORT``"""
    status_url: str
    """The master's web UI JSON status (``…/json/``)."""


def _unavailable(message: str) -> NoReturn:
    unavailable(message, must_run="the Spark tests (install the [spark] extra and Java 17)")


def _spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        _unavailable("pyspark is not installed (pip install 'berth[spark]')")
    if shutil.which("java") is None:
        _unavailable("Java is not installed (Spark needs Java 17+)")
    return Path(pyspark.__file__).parent


@contextlib.contextmanager
def standalone_cluster(folder: Path) -> Iterator[SparkCluster]:
    """A master and one worker on loopback, logging into `folder`; stopped afterwards."""
    home = _spark_home()
    port, ui = free_port(), free_port()
    berth_src = str(Path(berth.__file__).resolve().parent.parent)
    env = os.environ | {
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(folder / "work"),
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(p for p in (berth_src, os.environ.get("PYTHONPATH")) if p),
    }
    spark_class = str(home / "bin" / "spark-class")
    master_url = f"spark://127.0.0.1:{port}"
    status_url = f"http://127.0.0.1:{ui}/json/"
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(ui)]  # fmt: skip
    worker = [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
              "--webui-port", "0", "--cores", str(WORKER_CORES), "--memory", "2g"]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(_stop, processes)
        for command, log_name in ((master, "master.log"), (worker, "worker.log")):
            log = stack.enter_context((folder / log_name).open("wb"))
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        _wait_for_worker(status_url, processes, folder)
        yield SparkCluster(master_url, status_url)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_worker(status_url: str, processes: list[subprocess.Popen[bytes]], folder: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        for process in processes:
            if process.poll() is not None:
                logs = "".join(p.read_text(errors="replace")[-2000:] for p in folder.glob("*.log"))
                pytest.fail(f"a Spark process exited with {process.returncode}:\n{logs}")
        with contextlib.suppress(httpx.TransportError, ValueError):
            status = json.loads(httpx.get(status_url, timeout=2).text)
            if status.get("aliveworkers", 0) >= 1:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the Spark worker did not register within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """One standalone cluster for the session; the driver's environment set to reach it on loopback."""
    saved = {name: os.environ.get(name) for name in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON")}
    os.environ.update({"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable})
    try:
        with standalone_cluster(tmp_path_factory.mktemp("spark")) as cluster:
            yield cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(autouse=True)
def _spark_sockets_collected(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a Spark test, collect what pyspark dropped: a stopped session leaves py4j client
    sockets unreferenced but open, and their ResourceWarning, raised whenever the garbage collector
    gets to them, would fail whichever later test of this process was running then. Collected here,
    with that warning ignored for this collection only."""
    yield
    if request.node.get_closest_marker("spark") is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
