#!/usr/bin/env python3
"""Start-up, memory and single-request latency of `berth serve`, on the peer benchmark's models.

    .venv/bin/python bench/serve_bench.py [--runs 3] [--requests 2000] [--workers 1]

Trains the peer benchmark's two models (logistic regression and a 100-tree random forest on 20
float features), pushes them as trusted joblib files into a fresh home, then for each run:
starts `berth serve`, times it to the first correct answer of BOTH models (cold start), reads
the idle memory of the server and its workers (RSS, which counts a page shared by N processes N
times, and PSS and USS from /proc/PID/smaps_rollup; also without the records' monitor processes),
and times `--requests` sequential 1-row requests on one
keep-alive connection (p50/p99, microseconds). Prints one line per run and the medians.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

BERTH = str(Path(sys.executable).with_name("berth"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare(work: Path) -> bytes:
    x, y = make_classification(
        n_samples=10_000, n_features=20, n_informative=10, n_redundant=5, random_state=42
    )
    x = x.astype(np.float32)
    for name, model in {
        "lr": LogisticRegression(max_iter=1000),
        "rf": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=42),
    }.items():
        joblib.dump(model.fit(x, y), work / f"{name}.joblib")
        subprocess.run(
            [
                BERTH,
                "push",
                str(work / f"{name}.joblib"),
                "--name",
                name,
                "--home",
                str(work / "home"),
                "--trust-pickle",
            ],
            check=True,
            capture_output=True,
        )
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": x[0].tolist()}]}
    return json.dumps(body).encode()


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> int:
    conn.request("POST", path, body, {"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


MONITOR = b"berth.wiring.monitor_process"


def tree(pid: int) -> list[int]:
    """A process and its descendants."""
    found = []
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        pids.extend(int(c) for c in children)
    return found


def memory_mb(pid: int) -> dict[str, float]:
    """Memory of a process and its descendants, MB: RSS (counts a page shared by N processes N
    times), PSS (a shared page counted 1/N in each: sums to the memory the tree really holds) and
    USS (pages only that process has), from /proc/PID/smaps_rollup; the same without the records'
    monitor processes (one per worker, a fresh interpreter each) as ``server_*``."""
    totals = dict.fromkeys(("rss", "pss", "uss", "server_rss", "server_pss", "server_uss"), 0.0)
    for current in tree(pid):
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            monitor = MONITOR in Path(f"/proc/{current}/cmdline").read_bytes()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]}
        figures = {
            "rss": fields["Rss"],
            "pss": fields["Pss"],
            "uss": fields["Private_Clean"] + fields["Private_Dirty"],
        }
        for name, kb in figures.items():
            totals[name] += kb / 1024
            if not monitor:
                totals[f"server_{name}"] += kb / 1024
    return totals


def one_run(work: Path, body: bytes, requests: int, workers: int) -> dict[str, float]:
    port = free_port()
    argv = [BERTH, "serve", "--home", str(work / "home"), "--port", str(port), "--log-level", "warning"]
    argv += ["--workers", str(workers)]
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        answered: set[str] = set()
        while len(answered) < 2:
            for model in ("lr", "rf"):
                if model in answered:
                    continue
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    if post(conn, f"/v2/models/{model}/infer", body) == 200:
                        answered.add(model)
                    conn.close()
                except OSError:
                    time.sleep(0.005)
            if process.poll() is not None:
                raise RuntimeError("berth serve exited")
        cold = time.perf_counter() - start
        time.sleep(2.0)
        memory = memory_mb(process.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(200):  # warm the connection and the caches
            post(conn, "/v2/models/lr/infer", body)
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            post(conn, "/v2/models/lr/infer", body)
            times.append((time.perf_counter() - t0) * 1e6)
        conn.close()
        times.sort()
        return {
            "cold_start_s": cold,
            **{f"idle_{name}_mb": mb for name, mb in memory.items()},
            "p50_us": times[len(times) // 2],
            "p99_us": times[int(len(times) * 0.99)],
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _memory(run: dict[str, float]) -> str:
    return (
        f"idle RSS {run['idle_rss_mb']:.0f} MB PSS {run['idle_pss_mb']:.0f} MB"
        f" USS {run['idle_uss_mb']:.0f} MB"
        f" (servers without monitors: PSS {run['idle_server_pss_mb']:.0f} MB"
        f" USS {run['idle_server_uss_mb']:.0f} MB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="0: one per core")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-serve-bench-") as folder:
        work = Path(folder)
        body = prepare(work)
        runs = []
        for i in range(args.runs):
            run = one_run(work, body, args.requests, args.workers)
            runs.append(run)
            print(
                f"run {i}: cold start {run['cold_start_s']:.2f} s, {_memory(run)}, "
                f"lr 1 row on 1 connection p50 {run['p50_us']:.0f} us p99 {run['p99_us']:.0f} us"
            )
    keys = runs[0].keys()
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(
        f"median over {args.runs} runs (workers={args.workers or 'one per core'}, "
        f"BERTH_FORK_WORKERS={os.environ.get('BERTH_FORK_WORKERS', 'true')}): "
        f"cold start {medians['cold_start_s']:.2f} s, {_memory(medians)}, "
        f"p50 {medians['p50_us']:.0f} us, p99 {medians['p99_us']:.0f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
