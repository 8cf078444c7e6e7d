"""What metrics cost on the inference fast path: one model served twice from one home, by a server
with ``BERTH_METRICS=true`` (the default) and by one with ``BERTH_METRICS=false``, measured with wrk
at the same concurrency, in interleaved rounds (or both loaded at once: ``--design simultaneous``).

Run: ``.venv/bin/python bench/metrics_bench.py [--seconds 5] [--rounds 6] [--concurrency 64]
[--design alternate|simultaneous] [--access-log]``.
Prints requests/s, p50/p99 latency and server CPU per request per round, the medians and the on/off
ratios; first the in-process cost per request of the request counting (start + labels + finish) and
of the request layer (request id, echoed header) that both servers run. Load comes from wrk when it
is installed, else from aiohttp in this process (``--design simultaneous`` needs wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import orjson
from auth_bench import aiohttp_round, cpu_seconds, wrk_round
from grpc_bench import FEATURES, berth_serve, free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from starlette.types import Message, Receive, Scope, Send
from wrk_load import simultaneous_rates

import berth
from berth.core.request_ids import RequestIds
from berth.server.metrics.server_metrics import ServerMetrics
from berth.server.rest.request_layer import RequestLayer

MODES = ("off", "on")


def alternate(urls: dict[str, str], pids: dict[str, int], payload: Path, args: argparse.Namespace) -> None:
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    p99s: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    use_wrk = shutil.which("wrk") is not None
    print(
        f"load: {'wrk' if use_wrk else 'aiohttp in this process (no wrk here)'},",
        f"{args.concurrency} connections",
    )
    print(f"{'round':<7}{'metrics':<9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}", flush=True)
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            before = cpu_seconds(pids[mode])
            url = f"{urls[mode]}/v2/models/lr/infer"
            if use_wrk:
                rate, p50, p99 = wrk_round(url, payload, "", args)
            else:
                rate, p50, p99 = asyncio.run(aiohttp_round(url, payload.read_bytes(), "", args))
            per_request = (cpu_seconds(pids[mode]) - before) / (rate * args.seconds) * 1e6
            rates[mode].append(rate)
            p99s[mode].append(p99)
            cpu[mode].append(per_request)
            print(f"{round_:<7}{mode:<9}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{per_request:>12.1f}", flush=True)
    for mode in MODES:
        print(
            f"median metrics {mode:<4} {statistics.median(rates[mode]):>8.0f} req/s  "
            f"p99 {statistics.median(p99s[mode]):.2f} ms  CPU {statistics.median(cpu[mode]):.1f} us/req"
        )
    ratio = statistics.median(rates["on"]) / statistics.median(rates["off"])
    paired = statistics.median(on / off for on, off in zip(rates["on"], rates["off"], strict=True))
    print(
        f"metrics on / off at {args.concurrency} connections: throughput {ratio:.3f} "
        f"({(1 - ratio) * 100:.1f}% drop)"
    )
    print(f"median of the rounds' own on/off ratios (paired): {paired:.3f}")
    cpu_ratio = statistics.median(cpu["on"]) / statistics.median(cpu["off"])
    print(f"server CPU per request on / off: {cpu_ratio:.3f}")


def simultaneous(urls: dict[str, str], payload: Path, args: argparse.Namespace) -> None:
    """Both servers loaded at once, half the connections each: the ratio of what they answer is the
    ratio of their costs, whatever else the machine runs meanwhile."""
    ratios = []
    for round_ in range(args.rounds):
        answered = simultaneous_rates(
            {m: urls[m] for m in MODES}, payload, args.concurrency // 2, args.seconds
        )
        ratios.append(answered["on"] / answered["off"])
        print(
            f"round {round_}: off {answered['off']:.0f}, on {answered['on']:.0f} req/s, "
            f"on/off {ratios[-1]:.3f}"
        )
    print(
        f"simultaneous, {args.concurrency // 2} connections each: "
        f"median on/off throughput {statistics.median(ratios):.3f}"
    )


def counting_cost(requests: int = 200_000) -> float:
    """Microseconds the request counting adds to one request, in this process: start, the labels the
    data plane sets, finish (label children cached, as in a server)."""
    counter = ServerMetrics().requests("rest")
    started = time.perf_counter()
    for _ in range(requests):
        observation = counter.start()
        if observation is not None:
            observation.endpoint, observation.model, observation.version = "lr", "lr", "1"
        counter.finish(observation)
    return (time.perf_counter() - started) / requests * 1e6


def layer_cost(requests: int = 100_000) -> float:
    """Microseconds the request layer (request id in, header out) adds, against a do-nothing app."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def ignore(message: Message) -> None:
        return None

    async def loop(target: object) -> float:
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": "/v2/models/lr/infer",
            "headers": [(b"host", b"x")],
        }
        started = time.perf_counter()
        for _ in range(requests):
            await target(dict(scope), None, ignore)  # type: ignore[operator]
        return (time.perf_counter() - started) / requests * 1e6

    layer = RequestLayer(app, RequestIds())
    return min(asyncio.run(loop(layer)) for _ in range(3)) - min(asyncio.run(loop(app)) for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round and mode")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--design", choices=["alternate", "simultaneous"], default="alternate")
    parser.add_argument(
        "--access-log", action="store_true", help="the 'on' server also writes the access log"
    )
    args = parser.parse_args()
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    print(
        f"in process: request counting {counting_cost():.2f} us per request, "
        f"request layer {layer_cost():.2f} us"
    )
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        home = Path(tmp) / "home"
        berth.push(LogisticRegression(max_iter=1000).fit(x, y), name="lr", home=home, input_example=x[:3])
        urls, pids = {}, {}
        for mode in MODES:
            env = {"BERTH_METRICS": "true" if mode == "on" else "false"}
            if mode == "on" and args.access_log:
                env |= {"BERTH_ACCESS_LOG": "true", "BERTH_LOG_LEVEL": "info"}
            port = free_port()
            process = servers.enter_context(berth_serve(home, port, free_port(), env=env))
            urls[mode], pids[mode] = f"http://127.0.0.1:{port}", process.pid
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        if args.design == "simultaneous":
            simultaneous(urls, payload, args)
        else:
            alternate(urls, pids, payload, args)


if __name__ == "__main__":
    main()
