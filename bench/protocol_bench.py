"""What berth's HTTP protocol layer costs per request, with nothing else in the way: a do-nothing
ASGI app (a 150-byte JSON answer) served by uvicorn on uvloop with uvicorn's own httptools protocol
(``uvicorn``), with berth's `GuardedProtocol` of this tree (``guarded``) and, with ``--before SRC``,
with the `GuardedProtocol` of another source tree (``before``: e.g. a worktree of the commit before
a change). One server process each, interleaved wrk rounds (POST, 64 connections by default):
requests/s, p50/p99 and server CPU per request; then each variant's ratios to ``uvicorn`` (medians
of the rounds' own ratios). With a do-nothing app a few microseconds per request are a few percent,
which berth's full path (~200 us of CPU a request on 2 cores) does not resolve.

Run: ``.venv/bin/python bench/protocol_bench.py [--before /tmp/wt-before/src] [--seconds 5]
[--rounds 6] [--concurrency 64]`` (needs wrk).
"""

from __future__ import annotations

import argparse
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

import httpx
from auth_bench import cpu_seconds, wrk_round
from grpc_bench import free_port

THIS_SRC = Path(__file__).resolve().parent.parent / "src"
SERVER = """
import sys, uvicorn
from berth.server.connection_guard import GuardedProtocol

BODY = (b'{"model_name":"lr","model_version":"1",'
        b'"outputs":[{"name":"predict","datatype":"INT64","shape":[1],"data":[1]}]}')
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})

http = GuardedProtocol if sys.argv[2] == "guarded" else "httptools"
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http=http, log_level="warning",
            access_log=False, lifespan="off")
"""


@contextlib.contextmanager
def server(src: Path, protocol: str) -> Iterator[tuple[str, int]]:
    """(url, pid) of the do-nothing app served with `protocol` by the berth tree at `src`."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, "-c", SERVER, str(port), protocol]
    process = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.post(f"http://127.0.0.1:{port}/", content=b"{}")
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the {protocol} server of {src} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v2/models/lr/infer", process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="the src folder of the tree to compare with")
    parser.add_argument("--seconds", type=int, default=5, help="per round and variant")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    variants = {"uvicorn": (THIS_SRC, "httptools"), "guarded": (THIS_SRC, "guarded")}
    if args.before is not None:
        variants["before"] = (args.before, "guarded")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        payload = Path(tmp) / "body.json"
        payload.write_bytes(b'{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}')
        servers = {name: stack.enter_context(server(src, kind)) for name, (src, kind) in variants.items()}
        rates: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        print(f"{args.concurrency} connections, {args.seconds} s a round")
        print(
            f"{'round':<7}{'variant':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}",
            flush=True,
        )
        for round_ in range(args.rounds):
            order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
            for name in order:
                url, pid = servers[name]
                spent = cpu_seconds(pid)
                rate, p50, p99 = wrk_round(url, payload, "", args)
                per_request = (cpu_seconds(pid) - spent) / (rate * args.seconds) * 1e6
                rates[name].append(rate)
                cpu[name].append(per_request)
                print(
                    f"{round_:<7}{name:<10}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{per_request:>12.1f}",
                    flush=True,
                )
        for name in variants:
            print(
                f"median {name:<8} {statistics.median(rates[name]):>8.0f} req/s  "
                f"CPU {statistics.median(cpu[name]):.1f} us/req"
            )
        for name in variants:
            if name == "uvicorn":
                continue
            paired = statistics.median(a / b for a, b in zip(rates[name], rates["uvicorn"], strict=True))
            cpu_paired = statistics.median(a / b for a, b in zip(cpu[name], cpu["uvicorn"], strict=True))
            print(f"RATIO {name}/uvicorn: throughput {paired:.3f}, CPU per request {cpu_paired:.3f}")


if __name__ == "__main__":
    main()
