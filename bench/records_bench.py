"""What recording predictions costs: one model served by four servers from one home, recording
off (``BERTH_RECORD_PREDICTIONS=false``) and on with ``durability=journal`` (every answer waits
for its group's fsync), ``write`` (for its group's write) and ``none``, measured in interleaved
rounds at the same concurrency (one server loaded at a time; each round's order rotates).

Run: ``.venv/bin/python bench/records_bench.py [--seconds 5] [--rounds 4] [--concurrency 64]``.
Prints requests/s, p50/p99 latency and server CPU per request for every round, the medians, the
paired on/off ratios, and how many records reached the database. Load comes from wrk
(``bench/post_auth.lua`` without a token); the servers are started with `grpc_bench.py`'s helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import orjson
from grpc_bench import FEATURES, berth_serve, free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from wrk_load import simultaneous_rates

import berth
from berth.core.records import RecordQuery
from berth.core.settings import Settings
from berth.storage.journal import journal_lag
from berth.storage.sql_records import SqlRecordStore

LUA = Path(__file__).with_name("post_auth.lua")
MODES = {
    "off": {"BERTH_RECORD_PREDICTIONS": "false"},
    "journal": {"BERTH_RECORD_DURABILITY": "journal"},
    "fsync": {"BERTH_RECORD_DURABILITY": "fsync"},
    "none": {"BERTH_RECORD_DURABILITY": "none"},
}


def wrk_round(url: str, payload: Path, args: argparse.Namespace) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of wrk posting `payload` for `args.seconds`."""
    argv = ["wrk", "-t2", f"-c{args.concurrency}", f"-d{args.seconds}s", "-s", str(LUA), url]
    env = {**os.environ, "PAYLOAD": str(payload), "AUTHORIZATION": ""}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=args.seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed requests: {out}")
    return result["requests"] / (result["duration_us"] / 1e6), result["p50_us"] / 1e3, result["p99_us"] / 1e3


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children waited for so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(urls: dict[str, str], pids: dict[str, int], payload: Path, args: argparse.Namespace) -> None:
    modes = list(MODES)
    results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    print(f"wrk, {args.concurrency} connections, {args.seconds} s per round and mode")
    print(f"{'round':<7}{'recording':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'server CPU us/req':>19}")
    for round_ in range(args.rounds):
        order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
        for mode in order:
            before = cpu_seconds(pids[mode])
            figures = wrk_round(f"{urls[mode]}/v2/models/lr/infer", payload, args)
            per_request = (cpu_seconds(pids[mode]) - before) / (figures[0] * args.seconds) * 1e6
            results[mode].append(figures)
            cpu[mode].append(per_request)
            print(
                f"{round_:<7}{mode:<10}{figures[0]:>10.0f}{figures[1]:>9.2f}{figures[2]:>9.2f}{per_request:>19.1f}",
                flush=True,
            )
    for mode in modes:
        rate, p50, p99 = (statistics.median(r[i] for r in results[mode]) for i in range(3))
        print(
            f"median recording {mode:<8}{rate:>8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
            f"server CPU {statistics.median(cpu[mode]):.1f} us/req"
        )
    for mode in ("journal", "fsync", "none"):
        paired = statistics.median(
            on[0] / off[0] for on, off in zip(results[mode], results["off"], strict=True)
        )
        p99 = statistics.median(on[2] / off[2] for on, off in zip(results[mode], results["off"], strict=True))
        print(
            f"recording {mode} / off at {args.concurrency} connections: throughput {paired:.3f} "
            f"({(1 - paired) * 100:.1f}% drop, median of paired rounds), p99 {p99:.3f}"
        )


def simultaneous(urls: dict[str, str], payload: Path, args: argparse.Namespace) -> None:
    """Recording off and on loaded at the same time (one wrk each, `args.concurrency` connections
    each), so whatever else runs on the machine slows both alike: the ratio of the requests they
    answer is the ratio of their costs."""
    print(f"simultaneous: wrk on two servers at once, {args.concurrency} connections each")
    for mode in ("journal", "fsync", "none"):
        ratios = []
        for round_ in range(args.rounds):
            pair = {"off": urls["off"], mode: urls[mode]}
            answered = simultaneous_rates(pair, payload, args.concurrency, args.seconds)
            ratios.append(answered[mode] / answered["off"])
            print(f"round {round_}: off {answered['off']:.0f}, {mode} {answered[mode]:.0f}, {ratios[-1]:.3f}")
        print(f"simultaneous: median {mode}/off throughput {statistics.median(ratios):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--design",
        choices=["alternate", "simultaneous"],
        default="alternate",
        help="alternate: one server loaded at a time, interleaved rounds; simultaneous: recording off "
        "and on loaded at once (steadier on a shared machine)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("records_bench needs wrk (apt-get install wrk)")
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        home = Path(tmp) / "home"
        berth.push(LogisticRegression(max_iter=1000).fit(x, y), name="lr", home=home, input_example=x[:3])
        urls, pids = {}, {}
        for mode, env in MODES.items():
            port = free_port()
            process = servers.enter_context(berth_serve(home, port, free_port(), env=env))
            urls[mode], pids[mode] = f"http://127.0.0.1:{port}", process.pid
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        if args.design == "simultaneous":
            simultaneous(urls, payload, args)
        else:
            run(urls, pids, payload, args)
        settings = Settings(home=home)
        time.sleep(3)  # rotation + ingestion
        lag = journal_lag(settings.resolved_journal_dir)
        store = SqlRecordStore(settings.resolved_database_url)
        try:
            print(
                f"records in the database: {store.count(RecordQuery())}; ingester lag "
                f"{lag.oldest_unread_s:.2f} s, {lag.bytes_behind} bytes behind"
            )
        finally:
            store.close()


if __name__ == "__main__":
    main()
