"""What a `features` step adds to a request: the step alone (keys out of the request's column, one
MGET for every view and key, TTL and miss checks, typed columns back), on the machine's Redis, at
1 and 64 rows, against a bare MGET of the same keys with redis-py (the floor); p50 and p99. The
step runs as for a recorded request: it notes each row's outcome and write time for the record.

    .venv/bin/python bench/feature_lookup_bench.py [--iterations 3000] [--redis 127.0.0.1:6379]

The issue's bar: 1 row <= 1 ms p50, 64 rows <= 2 ms p50.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import numpy as np
import redis as redis_sync
import redis.asyncio as aioredis

from berth.core.features import parse_view
from berth.runtime.features import OnlineFeatures
from berth.runtime.pipeline import Frame, StepContext, parse_pipeline
from berth.storage.redis_features import RedisFeatures, redis_key

FEATURES = {
    "age": "int64",
    "campaign": "int64",
    "previous": "int64",
    "euribor3m": "float64",
    "nr_employed": "float64",
}


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99)] * 1000


async def run(address: str, iterations: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    source = f"redis://{address}/0?prefix={prefix}"
    view = parse_view(
        {"entity": "customer_id", "features": FEATURES, "source": source, "ttl_s": 86400}, name="bank"
    )
    store = RedisFeatures(source)
    rows = {
        f"c-{i}": {
            "age": 30 + i % 40,
            "campaign": 1,
            "previous": 0,
            "euribor3m": 4.857,
            "nr_employed": 5191.0,
        }
        for i in range(1000)
    }
    store.write(view, rows, time.time())
    online = OnlineFeatures(lambda: [view], lambda uri: store, refresh_s=3600)
    pipeline = parse_pipeline(
        {
            "pre": [
                {
                    "type": "features",
                    "views": [{"view": "bank", "key": "customer_id", "features": list(FEATURES)}],
                }
            ]
        }
    )
    bare = aioredis.Redis.from_url(f"redis://{address}/0")
    try:
        print(
            f"{'rows':>5} {'step p50 ms':>12} {'step p99 ms':>12} {'MGET p50 ms':>12}"
            f" {'MGET p99 ms':>12} {'added p50 ms':>13}"
        )
        for n in (1, 64):
            ids = np.array([f"c-{(i * 7) % 1000}" for i in range(n)], dtype=object)
            frame = Frame({"customer_id": ids})
            names = [redis_key(prefix, "bank", k) for k in ids]
            for _ in range(200):  # warm: connections, caches
                await pipeline.run_pre(frame, StepContext(features=online, served=[]))
                await bare.mget(names)
            step, floor = [], []
            for _ in range(iterations):  # interleaved, so both see the same machine
                t0 = time.perf_counter()
                # as a recorded request: a context of its own, noting what was read for the record
                ctx = StepContext(features=online, served=[])
                out = await pipeline.run_pre(frame, ctx)
                t1 = time.perf_counter()
                await bare.mget(names)
                t2 = time.perf_counter()
                step.append(t1 - t0)
                floor.append(t2 - t1)
            assert out["age"].shape == (n,)
            assert ctx.served is not None
            assert ctx.served[0]["outcomes"] == ["hit"] * n
            s50, s99 = _quantiles(step)
            f50, f99 = _quantiles(floor)
            print(f"{n:>5} {s50:>12.3f} {s99:>12.3f} {f50:>12.3f} {f99:>12.3f} {s50 - f50:>13.3f}")
    finally:
        await bare.aclose()
        await online.aclose()
        cleanup = redis_sync.Redis.from_url(f"redis://{address}/0")
        keys = list(cleanup.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            cleanup.delete(*keys)
        cleanup.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--redis", default="127.0.0.1:6379")
    args = parser.parse_args()
    asyncio.run(run(args.redis, args.iterations))


if __name__ == "__main__":
    main()
