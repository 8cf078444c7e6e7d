"""Bulk inference: rows per second for the peer benchmark's LR model on 100,000-row bodies.

One home, one model (``make_classification`` 10,000 x 20, float32, ``LogisticRegression``, as
``../shared/bench/peer_bench.py`` trains it), served by three ``berth serve`` processes (one worker
each, authentication off): recording on as in production (``journal`` durability, metrics on; a bulk
request's record keeps its first 1,000 rows), recording off, and recording every row of a bulk
request (``BERTH_RECORD_BULK_ROWS=1000000``, what a record held before that limit). Each round
predicts in this process first (the reference: `berth.load_model(...).predict`, the signature checks
included, and the bare estimator), then posts the same rows to every server, in rotating order, as

- an Arrow IPC stream (``application/vnd.apache.arrow.stream``, 20 float32 columns, 8 MB),
- a Parquet file (``application/vnd.apache.parquet``, pyarrow's defaults: snappy),
- OIP JSON (``[100000, 20]`` FP32, for comparison; fewer requests, it is slow),

each answered as an Arrow stream (JSON for JSON), from `--concurrency` keep-alive clients. Prints
rows/s per round, the medians, and the median of each round's ratio to that round's in-process
predict.

MLServer's pandas codec on the same rows (the issue's comparison) is not measured: MLServer is
not installed here.

Run: ``.venv/bin/python bench/bulk_bench.py [--rows 100000] [--rounds 3] [--requests 20] [--concurrency 1]``
"""

from __future__ import annotations

import argparse
import http.client
import io
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from grpc_bench import berth_serve, free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.codecs.arrow_tables import ARROW_STREAM_TYPE, PARQUET_TYPE, read_arrow_answer

SERVERS = {
    "records on": {},
    "records off": {"BERTH_RECORD_PREDICTIONS": "false"},
    "every row recorded": {"BERTH_RECORD_BULK_ROWS": "1000000"},
}


def train() -> tuple[LogisticRegression, np.ndarray[Any, Any]]:
    x, y = make_classification(
        n_samples=10_000, n_features=20, n_informative=10, n_redundant=5, n_classes=2, random_state=42
    )
    x = x.astype(np.float32)
    return LogisticRegression(max_iter=1000).fit(x, y), x


def bodies(rows: np.ndarray[Any, Any]) -> dict[str, tuple[bytes, str]]:
    table = pa.table({f"f{j}": np.ascontiguousarray(rows[:, j]) for j in range(rows.shape[1])})
    arrow = io.BytesIO()
    with pa.ipc.new_stream(arrow, table.schema) as writer:
        writer.write_table(table)
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel()}
    json_body = orjson.dumps({"inputs": [tensor]}, option=orjson.OPT_SERIALIZE_NUMPY)
    return {
        "arrow": (arrow.getvalue(), ARROW_STREAM_TYPE),
        "parquet": (parquet.getvalue(), PARQUET_TYPE),
        "json": (json_body, "application/json"),
    }


def post_rate(url: str, body: bytes, media: str, requests: int, concurrency: int, rows: int) -> float:
    """Rows per second of `requests` posts of `body` from `concurrency` keep-alive clients
    (``http.client``: one ``sendall`` of the body, no compression asked for, little client CPU)."""
    parts = urlsplit(url)
    left = [requests]
    lock = threading.Lock()
    failures: list[str] = []

    def caller() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        try:
            while True:
                with lock:
                    if left[0] == 0 or failures:
                        return
                    left[0] -= 1
                connection.request("POST", parts.path, body=body, headers={"content-type": media})
                answer = connection.getresponse()
                content = answer.read()
                if answer.status != 200:
                    failures.append(f"{answer.status} {content[:300]!r}")
        finally:
            connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=caller) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    return requests * rows / (time.perf_counter() - began)


def in_process_rate(predict: Callable[[], Any], rows: int, repeats: int) -> float:
    predict()
    began = time.perf_counter()
    for _ in range(repeats):
        predict()
    return repeats * rows / (time.perf_counter() - began)


def check_answers(url: str, payloads: dict[str, tuple[bytes, str]], expected: np.ndarray[Any, Any]) -> None:
    """Every body answered as the model predicts (and the JSON decoder's worker processes started)."""
    for name, (body, media) in payloads.items():
        answer = httpx.post(url, content=body, headers={"content-type": media}, timeout=300)
        answer.raise_for_status()
        if name == "json":
            predicted = np.array(answer.json()["outputs"][0]["data"])
        else:
            predicted = read_arrow_answer(answer.content)["predict"]
        if not np.array_equal(predicted, expected):
            raise SystemExit(f"{name}: the server's answer differs from the model's")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--requests",
        type=int,
        default=20,
        help="bulk requests (and in-process predictions) per round and body",
    )
    parser.add_argument("--json-requests", type=int, default=2, help="JSON requests per round")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    model, x = train()
    rows = np.resize(x, (args.rows, x.shape[1])).astype(np.float32)
    payloads = bodies(rows)
    for name, (body, media) in payloads.items():
        print(f"{name}: {len(body) / 1e6:.1f} MB ({media})")
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as work, ExitStack() as stack:
        home = Path(work) / "home"
        berth.push(model, name="lr", home=home, input_example=x[:3])
        local = berth.load_model("lr", home=home, cache_dir=Path(work) / "cache")
        references: dict[str, Callable[[], Any]] = {
            "in-process predict": lambda: local.predict(rows),
            "bare estimator": lambda: model.predict(rows),
        }
        urls = {}
        for label, env in SERVERS.items():
            port = free_port()
            stack.enter_context(
                berth_serve(home, port, free_port(), {"BERTH_MAX_BODY_BYTES": str(64 << 20), **env})
            )
            urls[label] = f"http://127.0.0.1:{port}/v2/models/lr/infer"
            check_answers(urls[label], payloads, model.predict(rows))
        results: dict[tuple[str, str], list[float]] = {}
        ratios: dict[tuple[str, str], list[float]] = {}
        order = list(urls)
        for round_ in range(args.rounds):
            for label, predict in references.items():
                rate = in_process_rate(predict, args.rows, args.requests)
                results.setdefault((label, "numpy"), []).append(rate)
                print(f"round {round_ + 1} {label:18} {rate:>12,.0f} rows/s", flush=True)
            for label in order[round_ % len(order) :] + order[: round_ % len(order)]:
                for name, (body, media) in payloads.items():
                    count = args.json_requests if name == "json" else args.requests
                    rate = post_rate(urls[label], body, media, count, args.concurrency, args.rows)
                    results.setdefault((label, name), []).append(rate)
                    print(f"round {round_ + 1} {label:18} {name:7} {rate:>12,.0f} rows/s", flush=True)
            reference = results[("in-process predict", "numpy")][-1]
            for (label, name), rates in results.items():
                if label in urls and len(rates) == round_ + 1:
                    ratios.setdefault((label, name), []).append(rates[-1] / reference)
        print(f"\nmedians over {args.rounds} rounds, {args.rows:,} rows a request,", end=" ")
        print(f"concurrency {args.concurrency}")
        print("| where | body | rows/s | / in-process predict, same round |")
        print("|---|---|---|---|")
        for (label, name), rates in results.items():
            ratio = statistics.median(ratios[(label, name)]) if (label, name) in ratios else None
            shown = "" if ratio is None else f"{ratio:.2f}"
            print(f"| {label} | {name} | {statistics.median(rates):,.0f} | {shown} |")
        print("MLServer (pandas codec): not measured, MLServer is not installed here.", file=sys.stderr)


if __name__ == "__main__":
    main()
