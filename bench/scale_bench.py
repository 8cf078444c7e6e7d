"""Scale-out under load, on PostgreSQL and S3 with no shared disk: two data-plane replicas of one
serving group behind the gateway, then a third joins, then one is killed (``kill -9``).

Run: ``.venv/bin/python bench/scale_bench.py [--concurrency 8] [--phase-seconds 6]``.
Needs PostgreSQL (``BERTH_TEST_POSTGRES_URL``) and starts moto's S3 server (``moto_server``, a dev
dependency). Every replica has its own home (its own artifact cache); artifacts are in the bucket.
Prints: how long the third replica took from its process start to its first answer through the
gateway (and to its readiness), the requests each replica answered per phase, and the requests
that failed around the kill, against how many were in flight on the killed replica.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import boto3
import httpx
import numpy as np
import orjson
from bench_db import fresh_database
from grpc_bench import free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth

AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def wait_ready(url: str, timeout: float = 90) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                return time.monotonic() - start
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready")


@contextlib.contextmanager
def process(
    argv: list[str], env: dict[str, str], *, quiet: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(argv, start_new_session=True, env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def serve(folder: Path, name: str, env: dict[str, str], *args: str) -> tuple[list[str], str]:
    port = free_port()
    berth_cli = str(Path(sys.executable).with_name("berth"))
    home = folder / name
    argv = [berth_cli, "serve", "--home", str(home), "--port", str(port), "--log-level", "warning", *args]
    return argv, f"http://127.0.0.1:{port}"


class Load:
    """Callers looping on the gateway; every answer kept as (time, status, replica)."""

    def __init__(self, url: str, body: bytes, concurrency: int) -> None:
        self.url, self.body, self.concurrency = url, body, concurrency
        self.answers: list[tuple[float, int, str]] = []
        self.in_flight: Counter[str] = Counter()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await asyncio.gather(*(self._caller(session) for _ in range(self.concurrency)))

    async def _caller(self, session: aiohttp.ClientSession) -> None:
        headers = {"content-type": "application/json"}
        while not self.stop.is_set():
            async with session.post(f"{self.url}/v2/models/lr/infer", data=self.body, headers=headers) as r:
                await r.read()
                self.answers.append((time.monotonic(), r.status, r.headers.get("berth-replica", "")))


async def scenario(folder: Path, env: dict[str, str], api: str, args: argparse.Namespace) -> None:
    x, y = make_classification(n_samples=500, n_features=20, random_state=1)
    x = x.astype(np.float32)
    await asyncio.to_thread(
        lambda: berth.push(LogisticRegression(max_iter=500).fit(x, y), name="lr", url=api)
    )
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    with contextlib.ExitStack() as stack:
        replicas = {}
        for name in ("replica-1", "replica-2"):
            argv, url = serve(folder, name, env, "--role", "data")
            replicas[name] = (stack.enter_context(process(argv, env)), url)
        for _, url in replicas.values():
            await asyncio.to_thread(wait_ready, url)
        argv, gateway = serve(folder, "gateway", env, "--role", "gateway")
        stack.enter_context(process(argv, env))
        await asyncio.to_thread(wait_ready, gateway)
        load = Load(gateway, body, args.concurrency)
        running = asyncio.create_task(load.run())
        await asyncio.sleep(args.phase_seconds)
        phase1 = len(load.answers)

        argv, third = serve(folder, "replica-3", env, "--role", "data")
        started = time.monotonic()
        replicas["replica-3"] = (stack.enter_context(process(argv, env)), third)
        ready_s = await asyncio.to_thread(wait_ready, third)
        while not any(r == third and t > started for t, _, r in load.answers[phase1:]):
            await asyncio.sleep(0.01)
        first = next(t for t, _, r in load.answers[phase1:] if r == third and t > started)
        await asyncio.sleep(args.phase_seconds)
        phase2 = len(load.answers)

        victim, victim_url = replicas["replica-1"]
        killed_at = time.monotonic()
        os.killpg(victim.pid, signal.SIGKILL)
        await asyncio.sleep(args.phase_seconds)
        load.stop.set()
        await running

    names = {url: name for name, (_, url) in replicas.items()}
    print(f"third replica: ready {ready_s:.2f} s after its process started; first answer through the")
    print(f"  gateway {first - started:.2f} s after it started")
    for label, part in (
        ("two replicas", load.answers[:phase1]),
        ("three replicas", load.answers[phase1:phase2]),
        ("after the kill", load.answers[phase2:]),
    ):
        by = Counter(names.get(r, r or "(none)") for _, status, r in part if status == 200)
        failed = sum(1 for _, status, _ in part if status != 200)
        print(f"{label:15} {len(part):6d} requests, {failed} failed; answered by {dict(sorted(by.items()))}")
    around = [(t, s) for t, s, _ in load.answers if t >= killed_at]
    failed_after = [t - killed_at for t, s in around if s != 200]
    in_flight = f"at most {args.concurrency} callers were in flight"
    print(f"kill -9 of replica-1: {len(failed_after)} failed requests after the kill ({in_flight});")
    print(f"  failures at {[round(f, 3) for f in failed_after]} s after the kill")
    last = max((t - killed_at for t, _, r in load.answers if r == victim_url), default=0.0)
    print(f"replica-1 answered its last request {last:.3f} s after the kill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--phase-seconds", type=float, default=6.0)
    args = parser.parse_args()
    moto = str(Path(sys.executable).with_name("moto_server"))
    s3_port = free_port()
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database() as database_url,
        process([moto, "-H", "127.0.0.1", "-p", str(s3_port)], AWS, quiet=True),
    ):
        endpoint = f"http://127.0.0.1:{s3_port}"
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(Exception):
                boto3.client("s3", endpoint_url=endpoint, **_creds()).create_bucket(Bucket="berth-bench")
                break
            if time.monotonic() > deadline:
                raise TimeoutError("moto_server did not start")
            time.sleep(0.1)
        env = {
            **AWS,
            "BERTH_DATABASE_URL": database_url,
            "BERTH_ARTIFACT_URI": "s3://berth-bench/models",
            "BERTH_S3_ENDPOINT_URL": endpoint,
            "BERTH_RECORD_PREDICTIONS": "false",
            "BERTH_HEARTBEAT_INTERVAL_S": "0.5",
            "BERTH_REPLICA_TTL_S": "3",
        }
        argv, api = serve(Path(folder), "api", env, "--role", "api")
        with process(argv, env):
            wait_ready(api)
            asyncio.run(scenario(Path(folder), env, api, args))


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS["AWS_DEFAULT_REGION"],
    }


if __name__ == "__main__":
    main()
