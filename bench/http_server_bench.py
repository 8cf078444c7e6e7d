"""The HTTP server under berth's fast path: uvicorn (httptools, uvloop: what `berth serve` runs)
against granian (a Rust-core ASGI server), each serving the same berth app in its production
configuration (records on with ``journal`` durability, metrics on, ``BERTH_AUTH=tokens``, called
with a predictor's API token), one worker each, interleaved wrk rounds.

Run: ``.venv/bin/python bench/http_server_bench.py [--seconds 5] [--rounds 4] [--concurrency 64 1]
[--profile 10]`` (needs wrk; ``--profile`` needs py-spy, which `make install` installs).
Prints per round and server requests/s, p50/p99 and server CPU per request (every process of the
server), then the medians and granian/uvicorn ratios. ``--profile S`` then records uvicorn's
server for S seconds under the first concurrency with py-spy (samples of the thread holding the
GIL: the Python CPU, not threads waiting on the disk or a queue) and prints where the time goes: by
layer (the package of the innermost frame that is not the standard library) and the functions with
the most time of their own.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import orjson
from auth_bench import wrk_round
from grpc_bench import FEATURES, berth_serve, free_port, push_lr
from sklearn.datasets import make_classification

from berth.core.settings import Settings

SERVERS = ("uvicorn", "granian")
LAYERS = (
    ("berth", "berth"),
    ("uvicorn", "uvicorn"),
    ("starlette", "starlette"),
    ("fastapi", "starlette"),
    ("httptools", "uvicorn"),
    ("sklearn", "model (scikit-learn, numpy)"),
    ("numpy", "model (scikit-learn, numpy)"),
    ("scipy", "model (scikit-learn, numpy)"),
    ("prometheus_client", "metrics (prometheus-client)"),
    ("orjson", "berth"),
    ("pydantic", "pydantic"),
    ("granian", "granian"),
)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and every process under it (Linux)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children[int(stat[1])].append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, ()))
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def granian_serve(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """granian serving berth's worker app (the settings as ``BERTH_*``, as `berth serve --workers`
    passes them) until the block ends."""
    granian = str(Path(sys.executable).with_name("granian"))
    argv = [
        granian,
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--no-ws",
        "--log-level",
        "warning",
        "berth.wiring.serve:worker_app",
    ]
    env = {**os.environ, **settings.as_environment()}
    process = subprocess.Popen(argv, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{settings.port}/v2/health/ready").status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise TimeoutError("granian did not become ready")
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def layer(frame: str) -> str | None:
    """The layer of a py-spy frame ``function (path/to/module.py:line)``; None: standard library."""
    path = frame.rsplit("(", 1)[-1]
    for package, name in LAYERS:
        if f"/{package}/" in path or path.startswith(f"{package}/"):
            return name
    if "site-packages" in path:
        return "other packages"
    return None


def profile(
    pid: int, url: str, payload: Path, token: str, args: argparse.Namespace, label: str = "uvicorn's server"
) -> None:
    """py-spy record of `pid` (`label`) under wrk load on `url`, summed by layer and by function
    (own time)."""
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(args.profile),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: where the Python CPU goes
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    load = argparse.Namespace(seconds=args.profile + 2, concurrency=args.concurrency[0])
    wrk_round(url, payload, f"Bearer {token}", load)
    errors = spy.communicate(timeout=60)[1].decode(errors="replace")
    if not out.exists():  # py-spy sometimes fails to attach to a loaded process: say so, go on
        print(f"\npy-spy wrote no profile of {label} (exit {spy.returncode}): {errors.strip()[-300:]}")
        return
    by_layer: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():  # a frame name with a line break in it
            continue
        frames = stack.split(";")
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        named = next(
            (name for frame in reversed(frames) if (name := layer(frame)) is not None), "stdlib/idle"
        )
        by_layer[named] += count
    print(f"\npy-spy, {total} samples (GIL held) of {label} under {args.concurrency[0]} connections:")
    for name, count in by_layer.most_common():
        print(f"  {name:<32}{count / total * 100:>6.1f}%")
    print("functions with the most time of their own:")
    for frame, count in own.most_common(25):
        print(f"  {count / total * 100:>5.1f}%  {frame[:130]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round, server and concurrency")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 1])
    parser.add_argument("--profile", type=int, default=0, help="seconds of py-spy on uvicorn's server")
    args = parser.parse_args()
    x, y = make_classification(n_samples=500, n_features=FEATURES, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    body = orjson.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP32", "data": x[0].tolist()}]}
    )
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        home = Path(tmp) / "home"
        token = push_lr(home, x, y)
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        urls, pids = {}, {}
        port = free_port()
        uvicorn = servers.enter_context(berth_serve(home, port, free_port(), env={"BERTH_AUTH": "tokens"}))
        urls["uvicorn"], pids["uvicorn"] = f"http://127.0.0.1:{port}", uvicorn.pid
        settings = Settings(home=home, auth="tokens", port=free_port(), grpc_port=free_port())
        granian = servers.enter_context(granian_serve(settings))
        urls["granian"], pids["granian"] = f"http://127.0.0.1:{settings.port}", granian.pid
        print("production configuration: records (journal), metrics, BERTH_AUTH=tokens; one worker each")
        print(
            f"{'conc':<6}{'round':<7}{'server':<9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}"
        )
        for concurrency in args.concurrency if args.rounds else ():
            results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in SERVERS}
            load = argparse.Namespace(seconds=args.seconds, concurrency=concurrency)
            for round_ in range(args.rounds):
                for name in SERVERS if round_ % 2 == 0 else tuple(reversed(SERVERS)):
                    before = tree_cpu_seconds(pids[name])
                    rate, p50, p99 = wrk_round(
                        f"{urls[name]}/v2/models/lr/infer", payload, f"Bearer {token}", load
                    )
                    cpu = (tree_cpu_seconds(pids[name]) - before) / (rate * args.seconds) * 1e6
                    results[name].append((rate, p50, p99, cpu))
                    print(
                        f"{concurrency:<6}{round_:<7}{name:<9}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{cpu:>12.1f}",
                        flush=True,
                    )
            medians = {
                n: [statistics.median(r[i] for r in rows) for i in range(4)] for n, rows in results.items()
            }
            for name, (rate, p50, p99, cpu) in medians.items():
                print(
                    f"median c={concurrency} {name:<8} {rate:>8.0f} req/s  p50 {p50:.2f} ms"
                    f"  p99 {p99:.2f} ms  {cpu:.1f} us CPU/req"
                )
            paired = statistics.median(
                g[0] / u[0] for g, u in zip(results["granian"], results["uvicorn"], strict=True)
            )
            print(f"RATIO c={concurrency} granian/uvicorn throughput {paired:.3f} (median of paired rounds)")
        if args.profile:
            profile(pids["uvicorn"], f"{urls['uvicorn']}/v2/models/lr/infer", payload, token, args)


if __name__ == "__main__":
    main()
