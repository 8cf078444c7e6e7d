#!/usr/bin/env python3
"""Endpoints under load: changes without failures, the A/B split, shadows that cost the caller nothing,
and two replicas on PostgreSQL.

    .venv/bin/python bench/traffic_bench.py [--connections 64] [--steady-s 10] [--changes-s 30]
                                            [--no-replicas]

Pushes three versions of a logistic regression (20 float features, the peer benchmark's model)
and two pyfunc shadows (slow: 50 ms a call; failing: every call) into a fresh home, starts
`berth serve`, and drives it with an aiohttp client at `--connections` concurrent requests:

1. steady: an endpoint on `lr@production`, `--steady-s` seconds: req/s, p50, p99;
2. changes: the same load for `--changes-s` seconds while the alias behind the endpoint moves back
   and forth 10 times, then a canary (lr:3 at 20%) is added and rolled back: failed requests,
   responses from a version that was not live at that moment, p99 against the steady p99;
3. A/B: 10,000 requests on a 90/10 endpoint: the observed share of the 10% variant;
4. shadows: the steady endpoint with no shadow, a slow shadow, a failing shadow: req/s, p99, errors;
5. replicas (when PostgreSQL answers at 127.0.0.1:5432): two servers on one database, the client
   alternating between them, the same changes made through either: failures, p99 ratio, and how
   long the other replica took to serve each endpoint change (LISTEN/NOTIFY; polling every 30 s).

The client shares the 2 cores with the server: compare the figures of one run with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import psycopg
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth

sys.path.insert(0, str(Path(__file__).parent))
from traffic_models import FailingModel, SlowModel

BERTH = str(Path(sys.executable).with_name("berth"))
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(home: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    log = (home.parent / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [BERTH, "serve", "--home", str(home), "--port", str(port), "--log-level", "warning", *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"server did not start; see {log.name}")
            time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


@dataclass
class Run:
    """What a load run saw: (start, end, status, version) per request, on the monotonic clock."""

    results: list[tuple[float, float, int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def latencies_ms(self) -> list[float]:
        return [(end - start) * 1000 for start, end, *_ in self.results]

    def figures(self) -> dict[str, float]:
        lat = sorted(self.latencies_ms)
        return {
            "requests": len(lat),
            "failed": sum(1 for _, _, status, _ in self.results if status != 200),
            "req_s": len(lat) / self.seconds,
            "p50_ms": lat[len(lat) // 2],
            "p99_ms": lat[int(len(lat) * 0.99)],
        }


async def load(
    urls: list[str],
    endpoint: str,
    body: bytes,
    connections: int,
    *,
    seconds: float | None = None,
    total: int | None = None,
    during: Callable[[], Awaitable[None]] | None = None,
) -> Run:
    """`connections` callers, round-robin over `urls`, for `seconds` (or `total` requests)."""
    run = Run()
    left = [total if total is not None else -1]
    stop = asyncio.Event()
    headers = {"content-type": "application/json"}

    async def caller(index: int, session: aiohttp.ClientSession) -> None:
        turn = index
        while not stop.is_set():
            if left[0] == 0:
                return
            left[0] -= 1
            url = urls[turn % len(urls)]
            turn += 1
            start = time.monotonic()
            try:
                async with session.post(f"{url}/v2/models/{endpoint}/infer", data=body, headers=headers) as r:
                    await r.read()
                    status, version = r.status, r.headers.get("berth-model-version", "")
            except aiohttp.ClientError:
                status, version = 0, ""
            run.results.append((start, time.monotonic(), status, version))

    connector = aiohttp.TCPConnector(limit=connections * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        tasks = [asyncio.create_task(caller(i, session)) for i in range(connections)]
        if during is not None:
            await during()
            stop.set()
        elif seconds is not None:
            await asyncio.sleep(seconds)
            stop.set()
        await asyncio.gather(*tasks)
        run.seconds = time.monotonic() - began
    return run


async def call(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.request(method, url, **kwargs)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


async def changes(
    urls: list[str],
    endpoint: str,
    seconds: float,
    timeline: Timeline,
    converge: list[float],
) -> None:
    """Move lr@production 1 <-> 2 ten times, then add a canary lr:3 and roll it back, spread over
    `seconds`; each change is made through the next replica, and the time the others take to serve
    an endpoint change is measured."""
    step = seconds / 14
    await asyncio.sleep(step)
    for move in range(10):
        version = 2 if move % 2 == 0 else 1
        began = time.monotonic()
        await call(
            "PUT", f"{urls[move % len(urls)]}/api/v1/models/lr/aliases/production", json={"version": version}
        )
        timeline.append((began, time.monotonic(), {str(version)}))
        await asyncio.sleep(step)
    for index, (method, path, body, live) in enumerate(
        [
            ("POST", "canary", {"target": "lr:3", "steps": [20], "interval_s": 600}, {"1", "3"}),
            ("POST", "rollback", {}, {"1"}),
        ]
    ):
        began = time.monotonic()
        changed = await call(
            method, f"{urls[index % len(urls)]}/api/v1/endpoints/{endpoint}/{path}", json=body
        )
        timeline.append((began, time.monotonic(), live))
        await _measure_convergence(urls, endpoint, changed["revision"], converge)
        await asyncio.sleep(step * 1.5)


async def _measure_convergence(urls: list[str], endpoint: str, revision: int, converge: list[float]) -> None:
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        for url in urls:
            while True:
                body = (await client.get(f"{url}/api/v1/endpoints/{endpoint}")).json()
                if (body.get("serving") or {}).get("revision") == revision:
                    break
                await asyncio.sleep(0.01)
    converge.append(time.monotonic() - start)


Timeline = list[tuple[float, float, set[str]]]
"""Changes: (call sent, call answered, versions live after). A change takes effect somewhere
between the two times, so a live set counts from its call's start until the next call's answer."""


def not_live(run: Run, timeline: Timeline, lag_s: float) -> int:
    """Responses from a version live at no moment of [start - lag, end] (lag: a replica's delay)."""
    periods = [
        (began, timeline[i + 1][1] if i + 1 < len(timeline) else float("inf"), live)
        for i, (began, _, live) in enumerate(timeline)
    ]
    bad = 0
    for start, end, status, version in run.results:
        if status != 200:
            continue
        if not any(version in live and a <= end and start - lag_s <= b for a, b, live in periods):
            bad += 1
    return bad


def push_versions(url: str | None, home: Path | None) -> np.ndarray[Any, Any]:
    """Three versions of the logistic regression (v1 'production'); returns the features."""
    x, y = make_classification(n_samples=2000, n_features=20, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    for aliases in (["production"], [], []):
        berth.push(model, name="lr", url=url, home=home, input_example=x[:3], aliases=aliases)
    return x


def prepare(home: Path) -> bytes:
    x = push_versions(None, home)
    berth.push(SlowModel(), name="slow", home=home, input_example=x[:3], trust_pickle=True)
    signature = berth.Signature(
        (berth.TensorSpec("input-0", "FP32", (-1, 20)),),
        (berth.TensorSpec("predict", "INT64", (-1,)),),
        default_outputs=("predict",),
    )
    berth.push(FailingModel(), name="failing", home=home, signature=signature, trust_pickle=True)
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": x[0].tolist()}]}
    return json.dumps(body).encode()


def line(label: str, figures: dict[str, float]) -> str:
    return (
        f"{label:<28} {figures['requests']:>7.0f} req {figures['req_s']:>8.0f} req/s  "
        f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:7.2f} ms  failed {figures['failed']:.0f}"
    )


async def single_server(url: str, body: bytes, args: argparse.Namespace) -> None:
    targets = {"targets": [{"target": "lr@production"}]}
    await call("POST", f"{url}/api/v1/endpoints", json={"name": "scoring", **targets})
    await load([url], "scoring", body, args.connections, seconds=2)  # warm up
    steady = await load([url], "scoring", body, args.connections, seconds=args.steady_s)
    timeline: Timeline = [(0.0, 0.0, {"1"})]
    during = await load(
        [url],
        "scoring",
        body,
        args.connections,
        during=lambda: changes([url], "scoring", args.changes_s, timeline, []),
    )
    s, d = steady.figures(), during.figures()
    print("\n== one server (SQLite), endpoint on lr@production ==")
    print(line("steady", s))
    print(line("10 alias moves + canary", d))
    print(f"   p99 during changes / steady p99: {d['p99_ms'] / s['p99_ms']:.2f}  (issue: <= 2)")
    print(f"   responses from a version not live at that moment: {not_live(during, timeline, 0.0)}")
    print(f"   versions that answered: {sorted({v for *_, v in during.results if v})}")

    await call(
        "POST",
        f"{url}/api/v1/endpoints",
        json={"name": "ab", "targets": [{"target": "lr:1", "weight": 90}, {"target": "lr:2", "weight": 10}]},
    )
    ab = await load([url], "ab", body, args.connections, total=10_000)
    share = sum(1 for *_, v in ab.results if v == "2") / len(ab.results)
    print("\n== A/B 90/10 over 10,000 requests ==")
    print(f"   lr:2 answered {share:.2%} (issue: 10% +/- 1.5 points); failed {ab.figures()['failed']:.0f}")

    print("\n== shadows (the caller's figures; the shadow gets a copy of every request) ==")
    rows = {}
    for name, shadows in (
        ("no shadow", []),
        ("slow shadow (50 ms)", ["slow:1"]),
        ("failing shadow", ["failing:1"]),
    ):
        endpoint = f"sh-{uuid.uuid4().hex[:6]}"
        await call(
            "POST",
            f"{url}/api/v1/endpoints",
            json={
                "name": endpoint,
                "targets": [{"target": "lr:1"}],
                "shadows": [{"target": t} for t in shadows],
            },
        )
        await load([url], endpoint, body, args.connections, seconds=1)
        rows[name] = (await load([url], endpoint, body, args.connections, seconds=args.steady_s)).figures()
        stats = await call("GET", f"{url}/api/v1/endpoints/{endpoint}/stats")
        print(line(name, rows[name]))
        for variant, entry in stats["variants"].items():
            if variant.startswith(("slow", "failing")):
                shadow = entry.get("shadow", {})
                total = entry["total"]
                print(
                    f"   {variant}: answered {total['requests']}, errors {total['errors']}, "
                    f"dropped {shadow.get('dropped', 0)} (queue full), "
                    f"skipped {shadow.get('paused', 0)} (paused)"
                )
    base = rows["no shadow"]
    for name in ("slow shadow (50 ms)", "failing shadow"):
        r = rows[name]
        print(
            f"   {name}: req/s x{r['req_s'] / base['req_s']:.2f}, p99 x{r['p99_ms'] / base['p99_ms']:.2f}, "
            f"caller errors {r['failed']:.0f}"
        )


async def replicas(urls: list[str], body: bytes, args: argparse.Namespace) -> None:
    await call(
        "POST",
        f"{urls[0]}/api/v1/endpoints",
        json={"name": "shared", "targets": [{"target": "lr@production"}]},
    )
    converge: list[float] = []
    await _measure_convergence(urls, "shared", 1, converge)
    await load(urls, "shared", body, args.connections, seconds=2)
    steady = await load(urls, "shared", body, args.connections, seconds=args.steady_s)
    timeline: Timeline = [(0.0, 0.0, {"1"})]
    during = await load(
        urls,
        "shared",
        body,
        args.connections,
        during=lambda: changes(urls, "shared", args.changes_s, timeline, converge),
    )
    s, d = steady.figures(), during.figures()
    print("\n== two replicas on PostgreSQL, client alternating between them ==")
    print(line("steady", s))
    print(line("10 alias moves + canary", d))
    print(f"   p99 during changes / steady p99: {d['p99_ms'] / s['p99_ms']:.2f}  (issue: <= 2)")
    print(
        f"   responses from a version not live (2 s replica lag allowed): {not_live(during, timeline, 2.0)}"
    )
    times = ", ".join(f"{c * 1000:.0f} ms" for c in converge)
    print(f"   endpoint changes served by every replica after: {times}")
    print(f"   (max {max(converge) * 1000:.0f} ms; issue: < 2 s)")


def postgres_database() -> str | None:
    try:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=2) as conn:
            name = f"berth_bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return None
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--steady-s", type=float, default=10.0)
    parser.add_argument("--changes-s", type=float, default=30.0)
    parser.add_argument("--no-replicas", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-traffic-") as folder:
        work = Path(folder)
        home = work / "one" / "home"
        home.parent.mkdir()
        body = prepare(home)
        with serve(home) as url:
            asyncio.run(single_server(url, body, args))
        database = None if args.no_replicas else postgres_database()
        if database is None:
            print("\n(replicas skipped: no PostgreSQL at 127.0.0.1:5432, or --no-replicas)")
            return 0
        env = {"BERTH_ARTIFACT_URI": (work / "shared").as_uri(), "BERTH_POLL_INTERVAL_S": "30"}
        homes = [work / f"r{i}" / "home" for i in range(2)]
        for h in homes:
            h.parent.mkdir()
        with serve(homes[0], "--database-url", database, env=env) as a:
            push_versions(a, None)
            with serve(homes[1], "--database-url", database, env=env) as b:
                asyncio.run(replicas([a, b], body, args))
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database.rsplit("/", 1)[1]}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
