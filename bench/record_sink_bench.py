"""What the durable record transport costs on the serving path: one model served by three servers,
recording off, into the local journal (``record_sink=journal://``, the default: a write to the page
cache before answering) and into NATS JetStream (``record_sink=nats://127.0.0.1:4222/<stream>``:
an acknowledged publish, batched, before answering), measured in interleaved rounds at the same
concurrency (one server loaded at a time; each round's order rotates), at 64 connections and at 1.

Each server is ``berth serve`` (role all) on a home of its own, with its monitor child: the journal
server's ingests its journal, the NATS server's drains the stream, so both pay for getting records
into their database on the same 2 cores. At the end, the records each database holds against the
requests it answered (all must be there).

Run: ``.venv/bin/python bench/record_sink_bench.py [--seconds 5] [--rounds 3] [--nats nats://127.0.0.1:4222]``
(needs wrk, and NATS with JetStream). Prints req/s, p50/p99 and server CPU per request for every
round, the medians, and the paired ratios against recording off and nats against journal.
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
import uuid
from contextlib import ExitStack
from pathlib import Path

import nats
import numpy as np
import orjson
from grpc_bench import FEATURES, berth_serve, free_port
from records_bench import cpu_seconds
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.records import RecordQuery
from berth.core.settings import Settings
from berth.storage.sql_records import SqlRecordStore

Figures = tuple[float, float, float]


LUA = Path(__file__).with_name("post_auth.lua")


def wrk_round(url: str, payload: Path, seconds: int, connections: int) -> Figures:
    """(requests/s, p50 ms, p99 ms) of wrk posting `payload` for `seconds` (a failed request stops it)."""
    argv = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA), url]
    env = {**os.environ, "PAYLOAD": str(payload), "AUTHORIZATION": ""}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed requests: {out}")
    return result["requests"] / (result["duration_us"] / 1e6), result["p50_us"] / 1e3, result["p99_us"] / 1e3


def modes(nats_url: str, stream: str) -> dict[str, dict[str, str]]:
    return {
        "off": {"BERTH_RECORD_PREDICTIONS": "false"},
        "journal": {"BERTH_RECORD_SINK": "journal://"},
        "nats": {"BERTH_RECORD_SINK": f"{nats_url.rstrip('/')}/{stream}"},
    }


def run(
    urls: dict[str, str], pids: dict[str, int], payload: Path, args: argparse.Namespace, concurrency: int
) -> dict[str, int]:
    """Interleaved rounds at `concurrency`; returns the requests each server answered."""
    names = list(urls)
    results: dict[str, list[Figures]] = {m: [] for m in names}
    cpu: dict[str, list[float]] = {m: [] for m in names}
    answered = dict.fromkeys(names, 0)
    print(f"\nwrk, {concurrency} connections, {args.seconds} s per round and mode")
    print(f"{'round':<7}{'recording':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'server CPU us/req':>19}")
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for mode in order:
            before = cpu_seconds(pids[mode])
            figures = wrk_round(f"{urls[mode]}/v2/models/lr/infer", payload, args.seconds, concurrency)
            requests = figures[0] * args.seconds
            answered[mode] += round(requests)
            per_request = (cpu_seconds(pids[mode]) - before) / requests * 1e6
            results[mode].append(figures)
            cpu[mode].append(per_request)
            print(
                f"{round_:<7}{mode:<10}{figures[0]:>10.0f}{figures[1]:>9.2f}{figures[2]:>9.2f}{per_request:>19.1f}",
                flush=True,
            )
    for mode in names:
        rate, p50, p99 = (statistics.median(r[i] for r in results[mode]) for i in range(3))
        print(
            f"median {mode:<8}{rate:>8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
            f"server CPU {statistics.median(cpu[mode]):.1f} us/req"
        )
    for on, base in (("journal", "off"), ("nats", "off"), ("nats", "journal")):
        pairs = list(zip(results[on], results[base], strict=True))
        throughput = statistics.median(a[0] / b[0] for a, b in pairs)
        p50 = statistics.median(a[1] / b[1] for a, b in pairs)
        p99 = statistics.median(a[2] / b[2] for a, b in pairs)
        print(
            f"{on} / {base} at {concurrency} connections: throughput {throughput:.3f}, "
            f"p50 {p50:.3f}, p99 {p99:.3f} (medians of paired rounds)"
        )
    return answered


async def delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        await client.jetstream().delete_stream(stream)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS with JetStream")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("record_sink_bench needs wrk (apt-get install wrk)")
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    model = LogisticRegression(max_iter=1000).fit(x, y)
    stream = f"BERTH_BENCH_{uuid.uuid4().hex[:8].upper()}"
    answered = {"off": 0, "journal": 0, "nats": 0}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        urls, pids, homes = {}, {}, {}
        for mode, env in modes(args.nats, stream).items():
            homes[mode] = Path(tmp) / mode
            berth.push(model, name="lr", home=homes[mode], input_example=x[:3])
            port = free_port()
            process = servers.enter_context(berth_serve(homes[mode], port, free_port(), env=env))
            urls[mode], pids[mode] = f"http://127.0.0.1:{port}", process.pid
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        try:
            for concurrency in (64, 1):
                for mode, n in run(urls, pids, payload, args, concurrency).items():
                    answered[mode] += n
            time.sleep(5)  # the journal's rotation and ingestion, the stream's drain
            for mode in ("journal", "nats"):
                store = SqlRecordStore(Settings(home=homes[mode]).resolved_database_url)
                try:
                    stored = store.count(RecordQuery())
                finally:
                    store.close()
                print(
                    f"{mode}: {stored} records in the database for about {answered[mode]} answered requests"
                )
        finally:
            asyncio.run(delete_stream(args.nats, stream))


if __name__ == "__main__":
    main()
