"""A real Feast feature server for tests, run from its own virtual environment.

Feast is not one of berth's dependencies: berth talks to Feast's feature server over HTTP
(``POST /get-online-features``), and Feast's SDK needs pandas < 3. So the tests build a virtual
environment for it once, keyed by `PACKAGES`, under ``~/.cache/berth-test/`` (``BERTH_TEST_CACHE``
moves it; the MLflow fixture's pattern): the first run installs it from the package index (a few
minutes), later runs find it. Building is serialised by a file lock; a folder without its
``ready`` mark (a build cut short) is built again.

`feast_repo` writes a Feast repository (``feast_repo.py`` beside this file, run in that
environment) whose online store is the machine's Redis under a database of the test's own, applies
it and materializes the bank-marketing subset keyed by customer id; `feast_server` starts
``feast serve`` on a free loopback port and waits for ``/health``; `feast_offline_server` starts
``feast serve_offline`` (Arrow Flight, over the repository's offline store: its Parquet) and waits
until it lists its actions; `feast_historical` runs Feast's own ``get_historical_features``
(``feast_historical.py`` beside this file) for the answer berth's must equal.

When the environment cannot be built or the server does not start, the tests that need it are
skipped with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, NoReturn

import httpx
import pyarrow.flight as fl

from tests.support.cached_venv import cached_venv
from tests.support.process_group import log_tail, stop_group
from tests.support.servers import free_port
from tests.support.unavailable import unavailable

FEAST_PIN: Final = "0.67.0"
PACKAGES: Final = (f"feast[redis]=={FEAST_PIN}",)
INSTALL_TIMEOUT_S: Final = 1500.0
START_TIMEOUT_S: Final = 180.0
SCRIPT: Final = Path(__file__).with_name("feast_repo.py")
HISTORICAL: Final = Path(__file__).with_name("feast_historical.py")


def _unavailable(message: str) -> NoReturn:
    unavailable(message, must_run="the Feast tests")
    raise AssertionError("unreachable")


def feast_venv() -> Path:
    """The cached environment with Feast (built on first use); its folder."""
    return cached_venv(
        f"feast-{FEAST_PIN}", PACKAGES, install_timeout_s=INSTALL_TIMEOUT_S, must_run="the Feast tests"
    )


REPO_TIMEOUT_S: Final = 600.0


def feast_repo(venv: Path, folder: Path, *, project: str, data: Path, rows: int, redis: str) -> Path:
    """A Feast repository in `folder` whose online store is `redis` (``host:port``), with the first
    `rows` rows of `data` materialized (`SCRIPT`); its folder."""
    repo = folder / "feast-repo"
    try:
        subprocess.run(
            [
                *(str(venv / "bin" / "python"), "-I", "-W", "ignore", str(SCRIPT)),
                *(str(repo), project, str(data), str(rows), redis),
            ],
            check=True,
            capture_output=True,
            timeout=REPO_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        _unavailable(
            f"cannot materialize the Feast repository ({exc}): {detail[-2000:].decode(errors='replace')}"
        )
    return repo


def feast_teardown(venv: Path, repo: Path) -> None:
    """Remove the repository's project from Redis (``FeatureStore.teardown``)."""
    subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-W", "ignore", str(SCRIPT), "teardown", str(repo)],
        check=True,
        capture_output=True,
        timeout=REPO_TIMEOUT_S,
    )


@contextlib.contextmanager
def feast_server(venv: Path, repo: Path) -> Iterator[str]:
    """``feast serve`` of `repo` on a free loopback port; its URL. Stopped after."""
    port = free_port()
    log_path = repo / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "feast"), "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log"],
        cwd=repo,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers are children: stop the whole group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                _unavailable(f"feast serve exited with {process.returncode}: {log_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                _unavailable(f"feast serve did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        stop_group(process)
        log.close()


@contextlib.contextmanager
def feast_offline_server(venv: Path, repo: Path) -> Iterator[str]:
    """``feast serve_offline`` of `repo` on a free loopback port; its ``host:port``. Stopped after."""
    port = free_port()
    log_path = repo / "serve_offline.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "feast"), "serve_offline", "-h", "127.0.0.1", "-p", str(port)],
        cwd=repo,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        with fl.connect(f"grpc://127.0.0.1:{port}") as client:
            while True:
                if process.poll() is not None:
                    _unavailable(
                        f"feast serve_offline exited with {process.returncode}: {log_tail(log_path)}"
                    )
                with contextlib.suppress(fl.FlightUnavailableError):
                    client.list_actions(fl.FlightCallOptions(timeout=2))
                    break
                if time.monotonic() > deadline:
                    _unavailable(f"feast serve_offline did not answer within {START_TIMEOUT_S:.0f} s")
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        stop_group(process)
        log.close()


def feast_historical(venv: Path, repo: Path, ask: dict[str, Any]) -> list[dict[str, Any]]:
    """Feast's own point-in-time join (``FeatureStore.get_historical_features``, `HISTORICAL`) of
    `ask` (``view``, ``join_key``, ``features``, ``rows`` of ``key`` and ISO ``at``): one object
    per row, in the rows' order."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-W", "ignore", str(HISTORICAL), str(repo)],
        input=json.dumps(ask).encode(),
        check=True,
        capture_output=True,
        timeout=REPO_TIMEOUT_S,
    )
    answer: list[dict[str, Any]] = json.loads(done.stdout)
    return answer
