"""What authentication costs on the inference fast path: one model served twice from one home,
by a server with ``BERTH_AUTH=off`` and by one with ``BERTH_AUTH=tokens`` (called with the API token
of a predictor of the model's team, so every request is authenticated, rate-checked and
authorized), measured in interleaved rounds at the same concurrency.

Run: ``.venv/bin/python bench/auth_bench.py [--seconds 5] [--rounds 4] [--concurrency 64]
[--design alternate|simultaneous] [--control]``.
Prints requests/s and p50/p99 latency per round, the medians, and on/off ratios. Load comes from
wrk (``bench/post_auth.lua``) when it is installed, else from aiohttp in this process; the servers
are started with `grpc_bench.py`'s helpers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import numpy as np
import orjson
from grpc_bench import FEATURES, berth_serve, free_port, measure, push_lr
from sklearn.datasets import make_classification
from starlette.types import ASGIApp, Receive, Scope, Send

from berth.core.access import Action
from berth.core.settings import Settings
from berth.server.auth.access_cache import AccessCache
from berth.server.auth.asgi_layer import AuthLayer
from berth.server.auth.authentication import Authenticator
from berth.server.auth.permissions import PRINCIPAL_KEY, Guard
from berth.storage.security_store import SqlSecurityStore

LUA = Path(__file__).with_name("post_auth.lua")


def wrk_round(
    url: str, payload: Path, authorization: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of wrk posting `payload` with `authorization` for `args.seconds`."""
    threads = min(2, args.concurrency)  # wrk refuses fewer connections than threads
    argv = ["wrk", f"-t{threads}", f"-c{args.concurrency}", f"-d{args.seconds}s", "-s", str(LUA), url]
    env = {**os.environ, "PAYLOAD": str(payload), "AUTHORIZATION": authorization}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=args.seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed requests: {out}")
    return result["requests"] / (result["duration_us"] / 1e6), result["p50_us"] / 1e3, result["p99_us"] / 1e3


async def aiohttp_round(
    url: str, body: bytes, authorization: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    """The same with aiohttp in this process (when wrk is not installed): the client costs more CPU."""
    headers = {"content-type": "application/json"}
    if authorization:
        headers["authorization"] = authorization
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:

        async def call() -> None:
            async with session.post(url, data=body, headers=headers) as response:
                response.raise_for_status()
                await response.read()

        return await measure(call, args.concurrency, args.seconds)


def layer_cost(database_url: str, token: str, requests: int = 100_000) -> float:
    """Microseconds authentication adds to one inference request, in this process: the auth layer with
    a token (authenticate, then authorize the model as the fast path does) against the same layer
    with authentication off, both in front of a do-nothing app."""
    store = SqlSecurityStore(database_url)
    cache = AccessCache(store, ThreadPoolExecutor(1), refresh_s=0.5)
    cache.load_now()
    guard = Guard(cache)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:  # what the fast path checks
        if not guard.check_known_model(scope[PRINCIPAL_KEY], Action.PREDICT, "lr"):
            raise RuntimeError("the access table does not know the model")

    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    off = AuthLayer(bare, Authenticator(None, tokens=False, jwt=None), Guard(None), public_paths=frozenset())

    authenticator = Authenticator(cache, tokens=True, jwt=None)
    layer = AuthLayer(app, authenticator, guard, public_paths=frozenset())
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"160")]
    signed = [*headers, (b"authorization", f"Bearer {token}".encode())]

    async def loop(target: ASGIApp, raw: list[tuple[bytes, bytes]]) -> float:
        scope: Scope = {"type": "http", "method": "POST", "path": "/v2/models/lr/infer", "headers": raw}
        started = time.perf_counter()
        for _ in range(requests):
            await target(dict(scope), None, None)  # type: ignore[arg-type]
        return (time.perf_counter() - started) / requests * 1e6

    try:  # the best of 5 of each: the machine is shared
        return min(asyncio.run(loop(layer, signed)) for _ in range(5)) - min(
            asyncio.run(loop(off, headers)) for _ in range(5)
        )
    finally:
        store.close()


def simultaneous(urls: dict[str, str], token: str, payload: Path, args: argparse.Namespace) -> None:
    """Both servers loaded at the same time (wrk, half the connections each), so that whatever else
    runs on the machine slows both alike: the ratio of the requests they answer is the ratio of
    their costs. Needs wrk."""
    print(f"simultaneous: wrk on both servers at once, {args.concurrency // 2} connections each")
    ratios = []
    for round_ in range(args.rounds):
        runs = {}
        for mode in ("off", "on"):
            env = {
                **os.environ,
                "PAYLOAD": str(payload),
                "AUTHORIZATION": f"Bearer {token}" if mode == "on" and token else "",
            }
            argv = ["wrk", "-t1", f"-c{args.concurrency // 2}", f"-d{args.seconds}s", "-s", str(LUA)]
            runs[mode] = subprocess.Popen(
                [*argv, f"{urls[mode]}/v2/models/lr/infer"], stdout=subprocess.PIPE, text=True, env=env
            )
        answered = {}
        for mode, process in runs.items():
            line = next(line for line in process.communicate()[0].splitlines() if line.startswith("WRKJSON "))
            result = json.loads(line.removeprefix("WRKJSON "))
            if result["errors"]:
                raise RuntimeError(f"{result['errors']} failed requests")
            answered[mode] = result["requests"] / (result["duration_us"] / 1e6)
        ratios.append(answered["on"] / answered["off"])
        print(f"round {round_}: off {answered['off']:.0f}, on {answered['on']:.0f} req/s, {ratios[-1]:.3f}")
    print(f"simultaneous: median on/off throughput {statistics.median(ratios):.3f}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    urls: dict[str, str], pids: dict[str, int], token: str, payload: Path, args: argparse.Namespace
) -> None:
    use_wrk = shutil.which("wrk") is not None
    print(
        f"load: {'wrk' if use_wrk else 'aiohttp (install wrk for steadier figures)'},",
        f"{args.concurrency} connections",
    )
    results: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    print(
        f"{'round':<7}{'auth':<6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'server CPU us/req':>19}", flush=True
    )
    for round_ in range(args.rounds):
        for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
            url = f"{urls[mode]}/v2/models/lr/infer"
            authorization = f"Bearer {token}" if mode == "on" and token else ""
            before = cpu_seconds(pids[mode])
            if use_wrk:
                figures = wrk_round(url, payload, authorization, args)
            else:
                figures = asyncio.run(aiohttp_round(url, payload.read_bytes(), authorization, args))
            per_request = (cpu_seconds(pids[mode]) - before) / (figures[0] * args.seconds) * 1e6
            results[mode].append(figures)
            cpu[mode].append(per_request)
            print(
                f"{round_:<7}{mode:<6}{figures[0]:>10.0f}{figures[1]:>9.2f}{figures[2]:>9.2f}{per_request:>19.1f}",
                flush=True,
            )
    medians = {
        mode: [statistics.median(r[i] for r in rows) for i in range(3)] for mode, rows in results.items()
    }
    for mode, (rate, p50, p99) in medians.items():
        print(f"median auth {mode:<4} {rate:>8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    ratio = medians["on"][0] / medians["off"][0]
    paired = statistics.median(on[0] / off[0] for on, off in zip(results["on"], results["off"], strict=True))
    print(f"median of the rounds' own on/off ratios (paired, steadier on a busy machine): {paired:.3f}")
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    print(
        f"median server CPU per request: auth off {cpu_off:.1f} us, on {cpu_on:.1f} us "
        f"({cpu_on / cpu_off:.3f})"
    )
    print(
        f"auth on / off at {args.concurrency} connections: throughput {ratio:.3f} "
        f"({(1 - ratio) * 100:.1f}% drop), p99 {medians['on'][2] / medians['off'][2]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--design",
        choices=["alternate", "simultaneous"],
        default="alternate",
        help="alternate: one server loaded at a time, interleaved rounds; simultaneous: both at once "
        "(steadier on a shared machine)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="A/A run: both servers without authentication, to see the machine's noise floor",
    )
    args = parser.parse_args()
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        home = Path(tmp) / "home"
        token = push_lr(home, x, y)
        urls, pids = {}, {}
        for mode, auth in (("off", "off"), ("on", "off" if args.control else "tokens")):
            port = free_port()
            process = servers.enter_context(berth_serve(home, port, free_port(), env={"BERTH_AUTH": auth}))
            urls[mode], pids[mode] = f"http://127.0.0.1:{port}", process.pid
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        if args.design == "simultaneous":
            simultaneous(urls, "" if args.control else token, payload, args)
        else:
            run(urls, pids, "" if args.control else token, payload, args)
        database_url = Settings(home=home).resolved_database_url
        print(f"in process: the auth layer adds {layer_cost(database_url, token):.2f} us per request")


if __name__ == "__main__":
    main()
