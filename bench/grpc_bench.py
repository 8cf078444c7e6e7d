"""gRPC against REST on one `berth serve` in its production configuration (authentication with API
tokens, every prediction recorded with ``journal`` durability, metrics on): the 1-row logistic
regression request (20 FP32 features) at 1 and 64 concurrent callers, interleaved rounds; requests/s,
p50/p99 latency, the server's CPU per call and the rows per ``predict`` call (the batcher's work).

REST sends OIP JSON with aiohttp (one connection per concurrent caller). gRPC is called two ways over
one HTTP/2 channel, as a Triton user does: Triton's asyncio client (``tritonclient.grpc.aio``,
``raw_input_contents``) and a bare grpc.aio stub with the same message (the client's own cost
removed). The callers run in this process's event loop against a server process on free ports.

Run: ``.venv/bin/python bench/grpc_bench.py [--seconds 5] [--rounds 3] [--concurrency 1 64]
[--env BERTH_RECORD_PREDICTIONS=false]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import httpx
import numpy as np
import orjson
import tritonclient.grpc.aio as triton_aio
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.core.tensors import InferenceRequest, Tensor
from berth.server.grpc.codec import encode_infer_request
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.storage.security_store import SqlSecurityStore

FEATURES = 20
Call = Callable[[], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def push_lr(home: Path, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> str:
    """The benches' model: a logistic regression of `x` -> `y` pushed as ``lr`` (team ``bench``)
    into `home`; a predictor's API token for it (`predictor_token`)."""
    berth.push(
        LogisticRegression(max_iter=1000).fit(x, y), name="lr", home=home, input_example=x[:3], team="bench"
    )
    return predictor_token(home)


def predictor_token(home: Path) -> str:
    """An API token of principal ``caller``, a predictor of team ``bench`` (the benches' models'
    team), in `home`'s security store: the production configuration's caller."""
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        store.set_member("bench", "caller", Role.PREDICTOR)
        return store.create_token("caller").secret
    finally:
        store.close()


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


async def measure(call: Call, concurrency: int, seconds: float) -> tuple[float, float, float, int]:
    """Requests per second, p50 and p99 latency (ms) and calls made by `concurrency` callers looping
    for `seconds`."""
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
    return len(latencies) / elapsed, float(p50), float(p99), len(latencies)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def predict_calls(rest_url: str) -> tuple[float, float]:
    """(predict calls, rows) the server has run so far, from its ``berth_batch_size`` histogram."""
    sums = {"count": 0.0, "sum": 0.0}
    for line in httpx.get(f"{rest_url}/metrics").text.splitlines():
        for key in sums:
            if line.startswith(f"berth_batch_size_{key}{{"):
                sums[key] += float(line.rsplit(" ", 1)[1])
    return sums["count"], sums["sum"]


Row = tuple[str, int, float, float, float, float, float]


async def one_round(
    rest_url: str, grpc_address: str, pid: int, token: str, row: np.ndarray, levels: list[int], seconds: float
) -> list[Row]:
    body = orjson.dumps(
        {
            "inputs": [
                {"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": row.ravel().tolist()}
            ]
        }
    )
    message = encode_infer_request(InferenceRequest([Tensor("input-0", "FP32", row.shape, row)]), "lr")
    bearer = {"authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=max(levels))
    triton_input = triton_aio.InferInput("input-0", list(row.shape), "FP32")
    triton_input.set_data_from_numpy(row)
    triton = triton_aio.InferenceServerClient(grpc_address)
    rows: list[Row] = []
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            grpc.aio.insecure_channel(grpc_address) as channel,
        ):
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            metadata = tuple(bearer.items())

            async def rest() -> None:
                async with session.post(
                    f"{rest_url}/v2/models/lr/infer",
                    data=body,
                    headers={"content-type": "application/json", **bearer},
                ) as response:
                    response.raise_for_status()
                    await response.read()

            async def grpc_stub() -> None:
                await stub.ModelInfer(message, metadata=metadata)

            async def grpc_triton() -> None:
                await triton.infer("lr", [triton_input], headers=bearer)

            for concurrency in levels:
                calls: tuple[tuple[str, Call], ...] = (
                    ("REST", rest),
                    ("gRPC Triton", grpc_triton),
                    ("gRPC stub", grpc_stub),
                )
                for name, call in calls:
                    cpu, (predicts, predicted) = cpu_seconds(pid), predict_calls(rest_url)
                    rate, p50, p99, made = await measure(call, concurrency, seconds)
                    cpu_us = (cpu_seconds(pid) - cpu) / made * 1e6
                    after, rows_after = predict_calls(rest_url)
                    batch = (rows_after - predicted) / max(after - predicts, 1)
                    rows.append((name, concurrency, rate, p50, p99, cpu_us, batch))
    finally:
        await triton.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per transport, concurrency and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are printed)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="BERTH_SETTING=VALUE",
        help="a server setting over the production configuration (repeatable), e.g."
        " BERTH_RECORD_PREDICTIONS=false",
    )
    args = parser.parse_args()
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        token = push_lr(home, x, y)
        port, grpc_port = free_port(), free_port()
        production = {
            "BERTH_AUTH": "tokens",
            "BERTH_METRICS_AUTH": "public",
            "BERTH_RECORD_DURABILITY": "journal",
        }
        production.update(setting.split("=", 1) for setting in args.env)
        results: dict[tuple[str, int], list[Row]] = {}
        with berth_serve(home, port, grpc_port, production) as process:
            for _ in range(args.rounds):
                for row in asyncio.run(
                    one_round(
                        f"http://127.0.0.1:{port}",
                        f"127.0.0.1:{grpc_port}",
                        process.pid,
                        token,
                        x[:1],
                        args.concurrency,
                        args.seconds,
                    )
                ):
                    results.setdefault((row[0], row[1]), []).append(row)
    print(
        f"{'transport':<13}{'callers':>8}{'req/s':>9}{'of REST':>9}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8}{'rows':>6}"
    )
    rest_rate = {
        c: statistics.median(r[2] for r in rows) for (name, c), rows in results.items() if name == "REST"
    }
    for (name, concurrency), rows in results.items():
        rate = statistics.median(r[2] for r in rows)
        medians = [statistics.median(r[i] for r in rows) for i in (3, 4, 5, 6)]
        print(
            f"{name:<13}{concurrency:>8}{rate:>9.0f}{rate / rest_rate[concurrency]:>9.2f}"
            f"{medians[0]:>8.2f}{medians[1]:>8.2f}{medians[2]:>8.0f}{medians[3]:>6.1f}"
        )
    print("(medians of the rounds; CPU us: the server's CPU time per call; rows: rows per predict call)")


if __name__ == "__main__":
    main()
