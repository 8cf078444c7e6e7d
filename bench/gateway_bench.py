"""What the gateway adds: one model served by a data-plane replica of the ``default`` serving group,
called directly and through ``berth serve --role gateway`` (the callers' one address), over REST and
over gRPC, in alternating rounds at the same concurrency, on one PostgreSQL registry.

Run: ``.venv/bin/python bench/gateway_bench.py [--seconds 5] [--rounds 3] [--concurrency 1,16]``.
Needs the PostgreSQL server at ``BERTH_TEST_POSTGRES_URL`` (default postgres@127.0.0.1:5432).
Prints requests/s and p50/p99 latency per round and level, then per level the medians and the
gateway/direct ratios and the p50 the gateway adds, in milliseconds. Load comes from aiohttp in
this process (the same client for both), so the figures compare, they are not the server's ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import httpx
import numpy as np
import orjson
from bench_db import fresh_database
from grpc_bench import free_port, measure
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.tensors import InferenceRequest, Tensor
from berth.server.grpc.codec import encode_infer_request
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc


@contextlib.contextmanager
def role(home: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    port = free_port()
    berth_cli = str(Path(sys.executable).with_name("berth"))
    argv = [berth_cli, "serve", "--home", str(home), "--port", str(port), "--log-level", "warning", *args]
    process = subprocess.Popen(argv, start_new_session=True, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"berth serve {' '.join(args)} did not become ready")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


async def rounds(
    urls: dict[str, str], body: bytes, message: object, levels: list[int], args: argparse.Namespace
) -> None:
    """`urls`: direct and gateway REST URLs, and direct-grpc and gateway-grpc addresses."""
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        stubs = {
            name: pb_grpc.GRPCInferenceServiceStub(
                await stack.enter_async_context(grpc.aio.insecure_channel(address))
            )
            for name, address in urls.items()
            if name.endswith("grpc")
        }
        for number in range(args.rounds):
            for level in levels:
                for name, url in urls.items():

                    async def call(url: str = url) -> None:
                        async with session.post(
                            f"{url}/v2/models/lr/infer",
                            data=body,
                            headers={"content-type": "application/json"},
                        ) as answer:
                            if answer.status != 200:
                                raise RuntimeError(f"{answer.status}: {await answer.text()}")
                            await answer.read()

                    async def rpc(name: str = name) -> None:
                        await stubs[name].ModelInfer(message)

                    rate, p50, p99 = await measure(rpc if name in stubs else call, level, args.seconds)
                    results.setdefault((name, level), []).append((rate, p50, p99))
                    figures = f"{rate:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                    print(f"round {number + 1} c={level:<3} {name:12} {figures}")
    print()
    for level in levels:
        for direct_name, gateway_name in (("direct", "gateway"), ("direct-grpc", "gateway-grpc")):
            direct = [statistics.median(x) for x in zip(*results[(direct_name, level)], strict=True)]
            gateway = [statistics.median(x) for x in zip(*results[(gateway_name, level)], strict=True)]
            print(
                f"c={level:<3} medians: {direct_name} {direct[0]:.0f} req/s p50 {direct[1]:.2f}"
                f" p99 {direct[2]:.2f} ms; {gateway_name} {gateway[0]:.0f} req/s p50 {gateway[1]:.2f}"
                f" p99 {gateway[2]:.2f} ms"
            )
            ratios = [g / d for g, d in zip(gateway, direct, strict=True)]
            added = gateway[1] - direct[1]
            print(
                f"c={level:<3} {gateway_name}/{direct_name}: throughput {ratios[0]:.2f}, p50 {ratios[1]:.2f},"
                f" p99 {ratios[2]:.2f}; the gateway adds {added:.2f} ms at p50"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,16")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    x, y = make_classification(n_samples=500, n_features=20, random_state=1)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database() as database_url,
        contextlib.ExitStack() as stack,
    ):
        env = {
            "BERTH_DATABASE_URL": database_url,
            "BERTH_ARTIFACT_URI": Path(folder, "artifacts").as_uri(),
            "BERTH_RECORD_PREDICTIONS": "false",
        }
        homes = {n: Path(folder, n) for n in ("api", "data", "gateway")}
        api = stack.enter_context(role(homes["api"], env, "--role", "api"))
        berth.push(LogisticRegression(max_iter=500).fit(x, y), name="lr", url=api)
        data_grpc, gateway_grpc = free_port(), free_port()
        data = stack.enter_context(role(homes["data"], env, "--role", "data", "--grpc-port", str(data_grpc)))
        gateway = stack.enter_context(
            role(homes["gateway"], env, "--role", "gateway", "--grpc-port", str(gateway_grpc))
        )
        deadline = time.monotonic() + 30
        while httpx.post(f"{gateway}/v2/models/lr/infer", content=body).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway does not route lr")
            time.sleep(0.1)
        message = encode_infer_request(InferenceRequest([Tensor("input-0", "FP32", (1, 20), x[:1])]), "lr")
        urls = {
            "direct": data,
            "gateway": gateway,
            "direct-grpc": f"127.0.0.1:{data_grpc}",
            "gateway-grpc": f"127.0.0.1:{gateway_grpc}",
        }
        asyncio.run(rounds(urls, body, message, levels, args))


if __name__ == "__main__":
    main()
