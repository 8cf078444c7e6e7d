"""What an endpoint costs over the plain model path: one `berth serve` in berth's production
configuration (records on with ``journal`` durability, metrics on, ``BERTH_AUTH=tokens``, called
with a predictor's API token) serving the 1-row logistic regression ``lr`` (two versions) and two
endpoints in front of them: ``scoring``, a 90/10 split of ``lr:1`` and ``lr:2`` sticky by the
``x-customer-id`` header with a ``threshold`` post-step on ``predict_proba`` (the issue's
endpoint), and ``split``, the same split without the post-step (to tell the routing's cost from the
step's). Interleaved wrk rounds on ``/v2/models/{lr,scoring,split}/infer``; every request of each
carries another sticky key (``bench/post_auth.lua`` with ``STICKY_HEADER``), so the endpoints hash
a new key each time and the client does the same work for all three.

Run: ``cd bench && ../.venv/bin/python endpoint_overhead_bench.py [--seconds 5] [--rounds 4]
[--concurrency 64 1] [--profile 10]`` (needs wrk; ``--profile`` needs py-spy).
Prints per round and path requests/s, p50/p99 and server CPU per request (the server and its
monitor child), then the medians and each endpoint's ratios to the model (the median of the rounds'
own ratios). ``--profile S`` then samples the server with py-spy for S seconds on the model path
and on ``scoring`` under the first concurrency (`http_server_bench.profile`).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import orjson
from auth_bench import wrk_round
from grpc_bench import FEATURES, berth_serve, free_port, predictor_token
from http_server_bench import profile, tree_cpu_seconds
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth

STICKY_HEADER = "x-customer-id"
SPLIT = {
    "targets": [{"target": "lr:1", "weight": 90}, {"target": "lr:2", "weight": 10}],
    "sticky": {"header": STICKY_HEADER},
}
POST_STEP = {"type": "threshold", "column": "predict_proba", "threshold": 0.5, "into": "alert"}
ENDPOINTS = {"scoring": {**SPLIT, "pipeline": {"post": [POST_STEP]}}, "split": SPLIT}
"""The endpoint the issue names, and the same without its post-step (where the cost is)."""
PATHS = {
    "model": "/v2/models/lr/infer",
    "endpoint": "/v2/models/scoring/infer",
    "split": "/v2/models/split/infer",
}
Figures = tuple[float, float, float, float]
"""requests/s, p50 ms, p99 ms, server CPU us per request"""


def prepare(home: Path) -> tuple[bytes, str]:
    """Two versions of lr and the endpoint in `home`; the request body and a predictor's token."""
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    for _ in range(2):
        berth.push(model, name="lr", home=home, input_example=x[:3], team="bench")
    endpoints = berth.endpoints(home=home)
    for name, spec in ENDPOINTS.items():
        endpoints.create(name, spec, team="bench")
    token = predictor_token(home)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    return body, token


def check(url: str, body: bytes, token: str, keys: int = 400) -> None:
    """The endpoint answers with the post-step's column, and its variants split about 90/10 over
    `keys` sticky keys (stops the bench otherwise)."""
    variants: collections.Counter[str] = collections.Counter()
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with httpx.Client(base_url=url, headers=headers) as client:
        for key in range(keys):
            answer = client.post(PATHS["endpoint"], content=body, headers={STICKY_HEADER: f"k-{key}"})
            answer.raise_for_status()
            outputs = {o["name"] for o in answer.json()["outputs"]}
            if "alert" not in outputs:
                raise RuntimeError(f"the endpoint answered {sorted(outputs)}, without 'alert'")
            variants[answer.headers["berth-variant"]] += 1
        client.post(PATHS["model"], content=body).raise_for_status()
    share = variants["lr:2"] / keys
    print(f"check: {keys} keys, lr:2 answered {share:.1%} {dict(variants)}")
    if not 0.04 < share < 0.2:
        raise RuntimeError("the 90/10 split is not what the endpoint serves")


def rounds(
    url: str, pid: int, payload: Path, token: str, concurrency: int, args: argparse.Namespace
) -> dict[str, list[Figures]]:
    """`args.rounds` rounds of wrk on each path, the order swapped every round; prints each."""
    results: dict[str, list[Figures]] = {path: [] for path in PATHS}
    load = argparse.Namespace(seconds=args.seconds, concurrency=concurrency)
    for round_ in range(args.rounds):
        for path in PATHS if round_ % 2 == 0 else tuple(reversed(PATHS)):
            before = tree_cpu_seconds(pid)
            rate, p50, p99 = wrk_round(f"{url}{PATHS[path]}", payload, f"Bearer {token}", load)
            cpu = (tree_cpu_seconds(pid) - before) / (rate * args.seconds) * 1e6
            results[path].append((rate, p50, p99, cpu))
            print(
                f"{concurrency:<6}{round_:<7}{path:<10}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{cpu:>12.1f}",
                flush=True,
            )
    return results


def summary(concurrency: int, results: dict[str, list[Figures]]) -> None:
    """The medians of each path and the endpoints' ratios to the model (median of the paired rounds)."""
    for path, rows in results.items():
        rate, p50, p99, cpu = (statistics.median(r[i] for r in rows) for i in range(4))
        print(
            f"median c={concurrency} {path:<9} {rate:>8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms"
            f"  {cpu:.1f} us CPU/req"
        )
    for path in ("endpoint", "split"):
        pairs = list(zip(results[path], results["model"], strict=True))
        ratios = [statistics.median(e[i] / m[i] for e, m in pairs) for i in range(4)]
        print(
            f"RATIO c={concurrency} {path}/model: throughput {ratios[0]:.3f} ({(1 - ratios[0]) * 100:.1f}%"
            f" fewer), p50 {ratios[1]:.3f}, p99 {ratios[2]:.3f}, CPU/req {ratios[3]:.3f}"
            f" ({(ratios[3] - 1) * 100:.1f}% more)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round, path and concurrency")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 1])
    parser.add_argument("--profile", type=int, default=0, help="seconds of py-spy on each path")
    args = parser.parse_args()
    os.environ["STICKY_HEADER"] = STICKY_HEADER  # read by post_auth.lua in every wrk run, both paths
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        home = Path(tmp) / "home"
        body, token = prepare(home)
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        port = free_port()
        server = servers.enter_context(berth_serve(home, port, free_port(), env={"BERTH_AUTH": "tokens"}))
        url = f"http://127.0.0.1:{port}"
        check(url, body, token)
        print("production configuration: records (journal), metrics, BERTH_AUTH=tokens; one worker")
        print(f"{'conc':<6}{'round':<7}{'path':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}")
        for concurrency in args.concurrency if args.rounds else ():
            summary(concurrency, rounds(url, server.pid, payload, token, concurrency, args))
        for path in ("model", "endpoint") if args.profile else ():
            profile(
                server.pid, f"{url}{PATHS[path]}", payload, token, args, label=f"the server ({path} path)"
            )


if __name__ == "__main__":
    main()
