"""`make image-smoke`: berth's image, run the way these machines can (podman, runc, vfs storage,
the host's network, a read-only root file system), against PostgreSQL and an S3 API server.

1. a fresh PostgreSQL database (``BERTH_TEST_POSTGRES_URL``) and moto's S3 server (a dev dependency)
   with a fresh bucket;
2. the image's own one-off jobs: ``berth db upgrade``, then ``berth token create --admin``;
3. the platform image serving (``BERTH_AUTH=tokens``): a model pushed to it over the API with the
   token, its artifact in S3, and a prediction checked against the model's own;
4. ``berth image build smoke-lr@production`` against that server: a model image, started (with
   ``BERTH_ALLOW_INSECURE_BIND=true``: it serves inference only, for a mesh that authenticates),
   and a prediction from it;
5. prints both images' sizes and their start-to-ready times (from ``podman run`` to
   ``/v2/health/ready`` answering 200).

Run: ``.venv/bin/python bench/image_smoke.py [--image localhost/berth:latest]`` after ``make image``.
Environment: STORAGE_DRIVER (vfs), PODMAN_RUNTIME (runc: crun cannot run here, cgroups v1 hybrid).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
from bench_db import fresh_database
from grpc_bench import free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth

AWS = {
    "AWS_ACCESS_KEY_ID": "smoke",
    "AWS_SECRET_ACCESS_KEY": "smoke-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
STORAGE_DRIVER = os.environ.get("STORAGE_DRIVER", "vfs")
PODMAN = ["podman", "--storage-driver", STORAGE_DRIVER, "--runtime", os.environ.get("PODMAN_RUNTIME", "runc")]
# The sandbox these machines run in refuses raising limits to the host's maximum (podman's default).
RUN_OPTIONS = [
    "--network",
    "host",
    "--read-only",
    "--ulimit",
    "nofile=8192:8192",
    "--ulimit",
    "nproc=4096:4096",
]
UID = 10001


def podman(*argv: str, capture: bool = False) -> str:
    done = subprocess.run([*PODMAN, *argv], check=True, text=True, capture_output=capture)
    return done.stdout if capture else ""


def environment(env: dict[str, str]) -> list[str]:
    return [item for key, value in env.items() for item in ("--env", f"{key}={value}")]


def state_folder(root: Path, name: str) -> Path:
    """A folder for the container's /var/lib/berth, owned by the image's user."""
    folder = root / name
    folder.mkdir()
    os.chown(folder, UID, UID)
    return folder


@dataclass(frozen=True)
class Started:
    """A running container, and when it was created (vfs copies the whole image then) and started."""

    name: str
    created_at: float
    started_at: float

    def times(self) -> tuple[float, float]:
        """Now, from `podman create` and from `podman start` (the process's start to ready)."""
        now = time.monotonic()
        return now - self.created_at, now - self.started_at


@contextlib.contextmanager
def container(image: str, name: str, state: Path, env: dict[str, str], *command: str) -> Iterator[Started]:
    """A container created, then started; removed afterwards (its log printed when the block failed)."""
    created = time.monotonic()
    podman("create", "--name", name, *RUN_OPTIONS, "--volume", f"{state}:/var/lib/berth",
           *environment(env), image, *command)  # fmt: skip
    try:
        started = time.monotonic()
        podman("start", name)
        yield Started(name, created_at=created, started_at=started)
    except BaseException:
        subprocess.run([*PODMAN, "logs", name], check=False)
        raise
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--time", "10", name], check=False, capture_output=True)


def wait_ready(url: str, name: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        running = podman("inspect", "--format", "{{.State.Running}}", name, capture=True).strip()
        if running != "true":
            raise RuntimeError(f"container {name} stopped before it was ready")
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if executable is None:
        raise SystemExit("moto_server is not installed (make install: the dev dependencies)")
    port = free_port()
    proc = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("moto_server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def readiness(times: tuple[float, float]) -> str:
    created, started = times
    return f"ready {started:.1f} s after podman start ({created:.1f} s after podman create)"


def s3_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=AWS["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )


def image_mb(image: str) -> float:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image, capture=True).strip()) / 1e6


def predict(url: str, model: str, x: np.ndarray, token: str | None = None) -> list[int]:
    body = {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ]
    }
    headers = {"authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(f"{url}/v2/models/{model}/infer", json=body, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"prediction failed: {answer.status_code} {answer.text}")
    data: list[int] = answer.json()["outputs"][0]["data"]
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="localhost/berth:latest")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    x, y = make_classification(n_samples=400, n_features=20, n_informative=10, random_state=3)
    x = x.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, y)
    expected = model.predict(x[:5]).tolist()
    model_image = f"localhost/berth-model-smoke-lr:{run_id}"
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="berth-image-smoke-")))
        root.chmod(0o755)
        database_url = stack.enter_context(fresh_database())
        s3_url = stack.enter_context(s3_server())
        bucket = f"berth-smoke-{run_id}"
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket=bucket)
        port, grpc_port = free_port(), free_port()
        env = {
            **AWS,
            "BERTH_DATABASE_URL": database_url,
            "BERTH_MIGRATE_ON_START": "false",  # the migration job below does it, once
            "BERTH_ARTIFACT_URI": f"s3://{bucket}/berth",
            "BERTH_S3_ENDPOINT_URL": s3_url,
            "BERTH_PORT": str(port),
            "BERTH_GRPC_PORT": str(grpc_port),
        }
        state = state_folder(root, "platform")
        one_off = [
            "run",
            "--rm",
            *RUN_OPTIONS,
            "--volume",
            f"{state}:/var/lib/berth",
            *environment(env),
            args.image,
        ]
        podman(*one_off, "db", "upgrade")
        token = podman(*one_off, "token", "create", "--admin", "--principal", "smoke", capture=True).split()[
            0
        ]

        platform = stack.enter_context(container(args.image, f"berth-smoke-{run_id}", state, env))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, platform.name)
        platform_times = platform.times()
        unauthenticated = httpx.get(f"{url}/api/v1/models", timeout=10).status_code
        if unauthenticated != 401:
            raise RuntimeError(f"the platform answered {unauthenticated} without a token")
        berth.push(model, name="smoke-lr", url=url, token=token, input_example=x[:2], aliases=["production"])
        if not s3.list_objects_v2(Bucket=bucket).get("KeyCount"):
            raise RuntimeError("the artifact is not in the S3 bucket")
        deadline = time.monotonic() + 60
        while True:  # the reconciler loads the new version (LISTEN/NOTIFY wakes it)
            try:
                got = predict(url, "smoke-lr", x[:5], token)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if got != expected:
            raise RuntimeError(f"the platform predicted {got}, the model {expected}")

        build_started = time.monotonic()
        berth_cli = str(Path(sys.executable).with_name("berth"))
        subprocess.run(
            [berth_cli, "image", "build", "smoke-lr@production", "--url", url, "--token", token,
             "--base-image", args.image, "--tag", model_image, "--storage-driver", STORAGE_DRIVER],
            check=True,
        )  # fmt: skip
        stack.callback(
            subprocess.run, [*PODMAN, "rmi", "--force", model_image], check=False, capture_output=True
        )
        build_s = time.monotonic() - build_started
        model_port, model_grpc = free_port(), free_port()
        model_env = {
            "BERTH_ALLOW_INSECURE_BIND": "true",
            "BERTH_PORT": str(model_port),
            "BERTH_GRPC_PORT": str(model_grpc),
        }
        model_state = state_folder(root, "model")
        served = stack.enter_context(
            container(model_image, f"berth-smoke-model-{run_id}", model_state, model_env)
        )
        model_url = f"http://127.0.0.1:{model_port}"
        wait_ready(model_url, served.name)
        model_times = served.times()
        got = predict(model_url, "smoke-lr", x[:5])
        if got != expected:
            raise RuntimeError(f"the model image predicted {got}, the model {expected}")

        platform_mb, model_mb = image_mb(args.image), image_mb(model_image)
        print("image smoke passed")
        print(f"  {args.image}: {platform_mb:.0f} MB, {readiness(platform_times)}")
        print("    (PostgreSQL, S3, BERTH_AUTH=tokens; a pushed model's prediction checked)")
        print(f"  {model_image}: {model_mb:.0f} MB, {readiness(model_times)}")
        print(f"    (berth serve --model-dir; prediction checked); berth image build took {build_s:.1f} s")


if __name__ == "__main__":
    main()
