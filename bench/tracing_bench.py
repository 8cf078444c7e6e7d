"""What tracing costs on the inference fast path: one model served twice from one home, by a server
with tracing off (the default) and by one exporting OTLP/HTTP with ``BERTH_TRACE_SAMPLE_RATIO``
(default 0.01) to a local sink this bench runs (no collector here: the sink reads and counts each
export), measured with wrk at the same concurrency in interleaved rounds, server CPU per request
included.

Run: ``.venv/bin/python bench/tracing_bench.py [--seconds 5] [--rounds 6] [--concurrency 64]
[--ratio 0.01]``.
Prints first the in-process cost per request of the tracing seams (off: the null spans a request
passes; on: the entry decision of a request left out by sampling, and a sampled request's spans),
then requests/s, p50/p99 latency and server CPU per request per round, the medians, the on/off
ratios, and what the sink received.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from auth_bench import cpu_seconds, wrk_round
from grpc_bench import FEATURES, berth_serve, free_port
from opentelemetry.sdk.trace.export import SpanExportResult
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.tracing import OFF, Tracing
from berth.wiring.tracing import exporting_to

MODES = ("off", "on")


class Sink:
    """An OTLP/HTTP receiver that reads every export and counts it (answers 200, empty protobuf)."""

    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                sink.exports += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Discard:
    """A span exporter that drops what it gets (for the in-process figures)."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def seam_cost(tracing: Tracing, requests: int = 200_000, traceparent: str | None = None) -> float:
    """CPU microseconds (this process, every thread: the batch processor's included) per request of
    what a fast-path request passes with `tracing`: the entry decision, then (when sampled) the
    request's span with an endpoint and a model span, else the null spans. CPU time, not wall time:
    on a busy machine the wall clock counts the waits for a core."""
    started = time.process_time()
    for _ in range(requests):
        entry = tracing.entry(traceparent)
        if entry is None:
            with tracing.span("berth.endpoint"), tracing.span("berth.model"):
                pass
        else:
            with tracing.request("POST", entry), tracing.span("berth.endpoint"), tracing.span("berth.model"):
                pass
    if tracing.on:
        tracing.close()  # the batch processor's export of what is queued counts too
    return (time.process_time() - started) / requests * 1e6


def in_process(ratio: float) -> None:
    exporter: Any = _Discard()

    def left_out() -> Tracing:
        return exporting_to(exporter, sample_ratio=0.0, process="bench")

    off = seam_cost(OFF)
    out = seam_cost(left_out())
    unsampled_caller = seam_cost(left_out(), traceparent=f"00-{'ab' * 16}-{'cd' * 8}-00")
    # fewer than the batch processor's queue holds (2048 spans): none dropped
    every = seam_cost(exporting_to(exporter, sample_ratio=1.0, process="bench"), 600)
    print(
        f"in process, CPU per request: tracing off {off:.2f} us (null spans, no layer); on and left out by"
        f" sampling {out:.2f} us (a caller's unsampled traceparent: {unsampled_caller:.2f} us); on and"
        f" sampled {every:.1f} us (3 spans, batch processor); expected at ratio {ratio}:"
        f" {out + ratio * (every - out):.2f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round and mode")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--ratio", type=float, default=0.01, help="BERTH_TRACE_SAMPLE_RATIO of the 'on' server"
    )
    args = parser.parse_args()
    in_process(args.ratio)
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        home = Path(tmp) / "home"
        berth.push(LogisticRegression(max_iter=1000).fit(x, y), name="lr", home=home, input_example=x[:3])
        urls, pids = {}, {}
        for mode in MODES:
            env = (
                {}
                if mode == "off"
                else {"BERTH_OTLP_ENDPOINT": sink.url, "BERTH_TRACE_SAMPLE_RATIO": str(args.ratio)}
            )
            port = free_port()
            process = servers.enter_context(berth_serve(home, port, free_port(), env=env))
            urls[mode], pids[mode] = f"http://127.0.0.1:{port}", process.pid
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        rates: dict[str, list[float]] = {m: [] for m in MODES}
        p99s: dict[str, list[float]] = {m: [] for m in MODES}
        cpu: dict[str, list[float]] = {m: [] for m in MODES}
        print(f"load: wrk, {args.concurrency} connections; 'on' samples {args.ratio:.2%} of requests")
        print(
            f"{'round':<7}{'tracing':<9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}", flush=True
        )
        for round_ in range(args.rounds):
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                before = cpu_seconds(pids[mode])
                rate, p50, p99 = wrk_round(f"{urls[mode]}/v2/models/lr/infer", payload, "", args)
                per_request = (cpu_seconds(pids[mode]) - before) / (rate * args.seconds) * 1e6
                rates[mode].append(rate)
                p99s[mode].append(p99)
                cpu[mode].append(per_request)
                print(
                    f"{round_:<7}{mode:<9}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{per_request:>12.1f}", flush=True
                )
        time.sleep(6)  # the batch processor exports every 5 s
    sink.close()
    for mode in MODES:
        print(
            f"median tracing {mode:<4} {statistics.median(rates[mode]):>8.0f} req/s  "
            f"p99 {statistics.median(p99s[mode]):.2f} ms  CPU {statistics.median(cpu[mode]):.1f} us/req"
        )
    ratio = statistics.median(rates["on"]) / statistics.median(rates["off"])
    paired = statistics.median(on / off for on, off in zip(rates["on"], rates["off"], strict=True))
    cpu_ratio = statistics.median(cpu["on"]) / statistics.median(cpu["off"])
    print(
        f"tracing on ({args.ratio:.0%} sampled) / off at {args.concurrency} connections: throughput"
        f" {ratio:.3f} ({(1 - ratio) * 100:.1f}% drop); paired rounds {paired:.3f}; server CPU per request"
        f" {cpu_ratio:.3f}"
    )
    print(f"the sink received {sink.exports} OTLP exports, {sink.bytes} bytes")


if __name__ == "__main__":
    main()
