"""A small PyTorch MLP (20 features -> 64 -> 64 -> 2) through `berth serve` (OIP JSON over REST)
against the same module called in this process: rows/s.

The model is pushed twice, as a torch.export program and as TorchScript; each is called with
requests of `--rows` rows by `--concurrency` callers (aiohttp, one connection each) for
`--seconds` s. In-process figures call the module on the same batches, one thread, with torch
set to 1 intra-op thread (what the server uses) and with torch's default.

Run: ``.venv/bin/python bench/torch_bench.py [--seconds 8] [--rows 1 64] [--concurrency 16]``.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import orjson
import torch

import berth

FEATURES = 20


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, 64),
            torch.nn.ReLU(),
            torch.nn.Linear(64, 64),
            torch.nn.ReLU(),
            torch.nn.Linear(64, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def berth_serve(home: Path, port: int) -> Iterator[None]:
    berth_cli = str(Path(sys.executable).with_name("berth"))
    argv = [berth_cli, "serve", "--home", str(home), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(argv, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


async def rest_rows_per_s(url: str, body: bytes, rows: int, concurrency: int, seconds: float) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def caller(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
                assert response.status == 200, await response.text()
                await response.read()
            done += rows

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(caller(session) for _ in range(concurrency)))
    return done / (time.monotonic() - started)


def in_process_rows_per_s(call: Callable[[Any], Any], x: np.ndarray[Any, Any], seconds: float) -> float:
    tensor = torch.from_numpy(x)
    done, stop, started = 0, time.monotonic() + seconds, time.monotonic()
    with torch.inference_mode():
        while time.monotonic() < stop:
            call(tensor)
            done += len(x)
    return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    torch.manual_seed(0)
    default_threads = torch.get_num_threads()  # before a push sets the process to 1 (docs/flavors.md)
    model = MLP().eval()
    x = np.random.default_rng(0).normal(size=(max(args.rows), FEATURES)).astype(np.float32)
    program = torch.export.export(
        model, (torch.zeros(2, FEATURES),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    with tempfile.TemporaryDirectory(prefix="torch-bench-") as folder:
        home = Path(folder) / "home"
        berth.push(program, name="exported", home=home)
        berth.push(torch.jit.script(model), name="scripted", home=home, input_example=x[:2])
        port = free_port()
        with berth_serve(home, port):
            for name, input_name in (("exported", "x"), ("scripted", "input-0")):
                for rows in args.rows:
                    batch = x[:rows]
                    tensor = {"name": input_name, "shape": list(batch.shape), "datatype": "FP32"}
                    body = orjson.dumps({"inputs": [{**tensor, "data": batch.ravel().tolist()}]})
                    url = f"http://127.0.0.1:{port}/v2/models/{name}/infer"
                    rate = asyncio.run(rest_rows_per_s(url, body, rows, args.concurrency, args.seconds))
                    who = f"REST {name:9s} {rows:3d} rows/request, {args.concurrency} callers"
                    print(f"{who}: {rate:10.0f} rows/s")
    scripted = torch.jit.script(model)
    for threads in (default_threads, 1):
        torch.set_num_threads(threads)
        for rows in args.rows:
            for label, call in (("module", model), ("exported", program.module()), ("scripted", scripted)):
                rate = in_process_rows_per_s(call, x[:rows], args.seconds / 2)
                print(f"in-process {label:9s} {rows:3d} rows/call, {threads} thread(s): {rate:10.0f} rows/s")


if __name__ == "__main__":
    main()
