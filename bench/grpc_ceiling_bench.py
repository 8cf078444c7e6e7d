"""What gRPC itself costs in Python, with nothing of berth: a do-nothing ``ModelInfer`` (a fixed
answer) served by grpc.aio on uvloop (what berth runs) and by grpcio's thread-pool server, called by
grpc.aio stubs keeping 64 calls in flight on one channel, interleaved rounds: req/s and the server's
CPU per call. This is the ceiling berth's gRPC answers under; REST's is `peer_bench.py`'s do-nothing
ASGI app.

Run: ``.venv/bin/python bench/grpc_ceiling_bench.py [--seconds 3] [--rounds 3]`` (prints figures).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import uvloop

from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc

ANSWER = pb.ModelInferResponse(model_name="lr", model_version="1", id="1")
SERVERS = ("grpc.aio", "thread pool")
OPTIONS = [("grpc.max_concurrent_streams", 1000)]


class AsyncServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]  # generated code
    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        return ANSWER


class ThreadServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]  # generated code
    def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        return ANSWER


def serve(kind: str, port: int) -> None:
    """Serve until killed (run in a child process)."""
    if kind == "grpc.aio":

        async def main() -> None:
            server = grpc.aio.server(options=OPTIONS)
            pb_grpc.add_GRPCInferenceServiceServicer_to_server(AsyncServicer(), server)  # type: ignore[no-untyped-call]
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            await server.wait_for_termination()

        uvloop.run(main())
        return
    server = grpc.server(futures.ThreadPoolExecutor(16), options=OPTIONS)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(ThreadServicer(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


async def calls(port: int, concurrency: int, seconds: float) -> int:
    """Calls answered by `concurrency` callers on one channel looping for `seconds`."""
    request = pb.ModelInferRequest(model_name="lr")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        await channel.channel_ready()
        for _ in range(100):
            await stub.ModelInfer(request)
        answered = 0
        stop = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal answered
            while time.perf_counter() < stop:
                await stub.ModelInfer(request)
                answered += 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return answered


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from grpc_bench import free_port

    ports = {kind: free_port() for kind in SERVERS}
    children = {
        kind: subprocess.Popen([sys.executable, __file__, "--serve", kind, str(port)])
        for kind, port in ports.items()
    }
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in SERVERS}
    try:
        for _ in range(args.rounds):
            for kind in SERVERS:
                pid = children[kind].pid
                cpu = cpu_seconds(pid)
                began = time.perf_counter()
                answered = asyncio.run(calls(ports[kind], args.concurrency, args.seconds))
                elapsed = time.perf_counter() - began
                results[kind].append((answered / elapsed, (cpu_seconds(pid) - cpu) / answered * 1e6))
    finally:
        for child in children.values():
            child.kill()
            child.wait()
    print(f"{'server':<13}{'callers':>8}{'req/s':>9}{'CPU us':>8}   (medians of {args.rounds} rounds)")
    for kind, rows in results.items():
        rate = statistics.median(r for r, _ in rows)
        cpu_us = statistics.median(c for _, c in rows)
        print(f"{kind:<13}{args.concurrency:>8}{rate:>9.0f}{cpu_us:>8.0f}")


if __name__ == "__main__":
    main()
