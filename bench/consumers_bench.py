"""What the consumer meter and the deprecation headers cost on the inference fast path.

First, in this process: `UsageMeter.count` per call on a known key, and the deprecation lookup per
answer (nothing deprecated; 1,000 deprecations of other models; the answer's own version deprecated).
Then one home served by two ``berth serve`` processes, ``before`` (another source tree, ``--before
SRC``: e.g. a worktree of the commit before the meter) and ``after`` (this tree), measured with wrk
in interleaved rounds at the same concurrency: requests/s, p50/p99, server CPU per request and the
after/before ratios.

Run: ``.venv/bin/python bench/consumers_bench.py --before /tmp/wt-before/src [--seconds 5] [--rounds 6]``
(without ``--before``, only the in-process figures).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
from auth_bench import aiohttp_round, cpu_seconds, wrk_round
from grpc_bench import FEATURES, berth_serve, free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.access import Principal
from berth.core.consumers import Deprecation, DeprecationScope
from berth.core.tensors import InferenceResponse
from berth.dataplane.served import Served
from berth.server.deprecation_notices import DeprecationNotices
from berth.server.usage_meter import UsageMeter

THIS_SRC = Path(__file__).resolve().parents[1] / "src"


def meter_cost(calls: int = 1_000_000) -> float:
    """Microseconds `UsageMeter.count` adds to one answered request (a key seen before)."""
    with ThreadPoolExecutor(1) as pool:
        meter = UsageMeter(lambda counts: None, pool)
        served, caller = Served(), Principal("bob")
        served.endpoint, served.model, served.version = "lr", "lr", "1"
        started = time.perf_counter()
        for _ in range(calls):
            meter.count(caller, served)
        return (time.perf_counter() - started) / calls * 1e6


def lookup_cost(deprecated: list[Deprecation], calls: int = 1_000_000) -> float:
    """Microseconds the deprecation lookup adds to one answer of ``lr`` version 1."""
    with ThreadPoolExecutor(1) as pool:
        notices = DeprecationNotices(lambda: deprecated, pool, lambda: 0)
    notices.apply(deprecated)
    answer = InferenceResponse(model_name="lr", model_version="1", outputs=[])
    started = time.perf_counter()
    for _ in range(calls):
        notices.headers("lr", None, answer)
    return (time.perf_counter() - started) / calls * 1e6


def _deprecation(model: str, version: int) -> Deprecation:
    return Deprecation(
        resource_kind="model",
        resource_name=model,
        scope=DeprecationScope.VERSION,
        subject=str(version),
        deprecated_at=datetime(2026, 12, 1, tzinfo=UTC),
        sunset_at=datetime(2027, 3, 1, tzinfo=UTC),
        message="",
        link=None,
        announced_by="bench",
    )


def servers(before: Path, args: argparse.Namespace) -> None:
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    trees = {"before": before, "after": THIS_SRC}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "home"
        berth.push(LogisticRegression(max_iter=1000).fit(x, y), name="lr", home=home, input_example=x[:3])
        urls, pids = {}, {}
        for mode, src in trees.items():
            port = free_port()
            process = stack.enter_context(berth_serve(home, port, free_port(), env={"PYTHONPATH": str(src)}))
            urls[mode], pids[mode] = f"http://127.0.0.1:{port}", process.pid
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        use_wrk = shutil.which("wrk") is not None
        print(f"load: {'wrk' if use_wrk else 'aiohttp'}, {args.concurrency} connections")
        rates: dict[str, list[float]] = {m: [] for m in trees}
        cpu: dict[str, list[float]] = {m: [] for m in trees}
        print(f"{'round':<7}{'tree':<8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}", flush=True)
        for round_ in range(args.rounds):
            for mode in list(trees) if round_ % 2 == 0 else list(trees)[::-1]:
                spent = cpu_seconds(pids[mode])
                url = f"{urls[mode]}/v2/models/lr/infer"
                if use_wrk:
                    rate, p50, p99 = wrk_round(url, payload, "", args)
                else:
                    rate, p50, p99 = asyncio.run(aiohttp_round(url, body, "", args))
                per_request = (cpu_seconds(pids[mode]) - spent) / (rate * args.seconds) * 1e6
                rates[mode].append(rate)
                cpu[mode].append(per_request)
                print(
                    f"{round_:<7}{mode:<8}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{per_request:>12.1f}", flush=True
                )
        for mode in trees:
            print(
                f"median {mode:<7} {statistics.median(rates[mode]):>8.0f} req/s  "
                f"CPU {statistics.median(cpu[mode]):.1f} us/req"
            )
        paired = statistics.median(a / b for a, b in zip(rates["after"], rates["before"], strict=True))
        throughput = statistics.median(rates["after"]) / statistics.median(rates["before"])
        cpu_ratio = statistics.median(cpu["after"]) / statistics.median(cpu["before"])
        print(
            f"after / before throughput {throughput:.3f} (paired rounds {paired:.3f}); "
            f"CPU per request {cpu_ratio:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="the src folder of the tree to compare with")
    parser.add_argument("--seconds", type=int, default=5, help="per round and tree")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(f"in process: UsageMeter.count {meter_cost():.3f} us per call")
    others = [_deprecation(f"m{n}", 1) for n in range(1000)]
    print(
        f"in process: deprecation lookup {lookup_cost([]):.3f} us (nothing deprecated), "
        f"{lookup_cost(others):.3f} us (1,000 others deprecated), "
        f"{lookup_cost([*others, _deprecation('lr', 1)]):.3f} us (the answer's version deprecated)"
    )
    if args.before is not None:
        servers(args.before, args)


if __name__ == "__main__":
    main()
