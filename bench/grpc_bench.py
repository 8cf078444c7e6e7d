"""gRPC vs REST throughput of one `berth serve`: the 1-row logistic regression request (20 FP32
features), at concurrency 1 and 64, about 10 s each; requests/s and p50/p99 latency.

REST sends OIP JSON with aiohttp (one connection per concurrent caller); gRPC sends
``raw_input_contents`` (tritonclient's default) with grpc.aio over one HTTP/2 channel. Both run in
this process's event loop, against a server process started on free ports.

Run: ``.venv/bin/python bench/grpc_bench.py [--seconds 10] [--concurrency 1 64]`` (prints figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import grpc
import httpx
import numpy as np
import orjson
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.tensors import InferenceRequest, Tensor
from berth.server.grpc.codec import encode_infer_request
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc

FEATURES = 20
Call = Callable[[], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def berth_serve(
    home: Path, port: int, grpc_port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`berth serve` on these ports until the block ends (yields its process); `env` adds settings."""
    berth_cli = str(Path(sys.executable).with_name("berth"))
    argv = [berth_cli, "serve", "--home", str(home), "--port", str(port), "--grpc-port", str(grpc_port)]
    process = subprocess.Popen(
        [*argv, "--log-level", "warning"], start_new_session=True, env={**os.environ, **(env or {})}
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise TimeoutError("berth serve did not become ready")
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


async def measure(call: Call, concurrency: int, seconds: float) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 latency (ms) of `concurrency` callers looping for `seconds`."""
    for _ in range(50):
        await call()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        while (start := time.perf_counter()) < stop:
            await call()
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    p50, p99 = np.percentile(np.array(latencies) * 1e3, [50, 99])
    return len(latencies) / elapsed, float(p50), float(p99)


async def run(rest_url: str, grpc_address: str, row: np.ndarray, levels: list[int], seconds: float) -> None:
    body = orjson.dumps(
        {
            "inputs": [
                {"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": row.ravel().tolist()}
            ]
        }
    )
    message = encode_infer_request(InferenceRequest([Tensor("input-0", "FP32", row.shape, row)]), "lr")
    connector = aiohttp.TCPConnector(limit=max(levels))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        grpc.aio.insecure_channel(grpc_address) as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        async def rest() -> None:
            async with session.post(
                f"{rest_url}/v2/models/lr/infer", data=body, headers={"content-type": "application/json"}
            ) as response:
                response.raise_for_status()
                await response.read()

        async def grpc_call() -> None:
            await stub.ModelInfer(message)

        print(f"{'transport':<10}{'callers':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        for concurrency in levels:
            for name, call in (("REST", rest), ("gRPC", grpc_call)):
                rate, p50, p99 = await measure(call, concurrency, seconds)
                print(f"{name:<10}{concurrency:>8}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per transport and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        berth.push(LogisticRegression(max_iter=1000).fit(x, y), name="lr", home=home, input_example=x[:3])
        port, grpc_port = free_port(), free_port()
        with berth_serve(home, port, grpc_port):
            asyncio.run(
                run(
                    f"http://127.0.0.1:{port}",
                    f"127.0.0.1:{grpc_port}",
                    x[:1],
                    args.concurrency,
                    args.seconds,
                )
            )


if __name__ == "__main__":
    main()
