"""A real S3 API server for tests: moto's standalone server (``moto_server``), as a process on a free
loopback port, one per test session (per xdist worker), a fresh bucket per test.

moto comes with the dev dependencies. When it cannot be started, tests that need it are skipped with
the reason, except under ``CI=true``, where that is a failure: CI must run them. Mark such tests
``@pytest.mark.s3``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.unavailable import unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START_TIMEOUT_S: Final = 60.0
# moto accepts any credentials; these keep boto3 from looking further (and from a real account).
CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "berth-test",
    "AWS_SECRET_ACCESS_KEY": "berth-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self) -> S3Client:
        import boto3

        client: S3Client = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint_url)
        return client

    def new_bucket(self) -> str:
        name = f"berth-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def _unavailable(message: str) -> NoReturn:
    unavailable(message, must_run="S3 tests")


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's S3 API server on a free loopback port, stopped afterwards."""
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if executable is None:
        _unavailable("moto_server is not installed (pip install 'moto[server]')")
        raise AssertionError("unreachable")
    port = free_port()
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                _unavailable(f"moto_server exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline:
                _unavailable(f"moto_server did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 API server for the session, with test credentials in the environment."""
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        with moto_server() as server:
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the test S3 server."""
    return s3_server.new_bucket()
