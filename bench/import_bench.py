"""What the thin paths cost in CPU: ``import berth``, ``berth --version``, ``berth --help`` and
``--url`` commands (``berth models list --url URL``, ``berth predict lr --url URL``) against a
running server, and ``berth models list --home`` (the embedded registry, opened in the process).

    .venv/bin/python bench/import_bench.py [--runs 15] [--before /tmp/wt-before/src]

Each command runs ``--runs`` times, each time in a fresh process; its figure is that process's
user + system CPU time (``os.wait4``), the median and the range over the runs. CPU time rather
than wall time: the machine is shared, and a command waiting for the CPU is not what it costs.
The server is ``berth serve`` (a process, not measured) on a free port, over a temporary home
holding one pushed model (a logistic regression), so ``models list`` has a row to print.

``--before SRC`` also runs every command with ``PYTHONPATH=SRC`` (e.g. the ``src`` folder of a
worktree of an older commit, with this virtual environment), interleaved with this tree's runs,
and prints both and their ratio: compare within one run (bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from grpc_bench import berth_serve, free_port
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth

BERTH = str(Path(sys.executable).with_name("berth"))
ROW = '{"instances": [[' + ", ".join(["0.5"] * 20) + "]]}"
"""One row of the model's 20 features, as TF-Serving JSON."""


@contextlib.contextmanager
def served_home(folder: Path) -> Iterator[str]:
    """`berth serve` over a new home in `folder` holding one model, ``lr``; yields its URL."""
    home = folder / "home"
    x, y = make_classification(n_samples=200, n_features=20, random_state=0)
    berth.push(LogisticRegression(max_iter=500).fit(x, y), name="lr", input_example=x[:2], home=home)
    port = free_port()
    with berth_serve(home, port, free_port()):
        yield f"http://127.0.0.1:{port}"


def cpu_seconds(argv: list[str], src: str | None) -> float:
    """User + system CPU time of `argv` run once in a fresh process (which must succeed)."""
    env = {k: v for k, v in os.environ.items() if k not in {"BERTH_HOME", "BERTH_URL", "PYTHONPATH"}}
    if src is not None:
        env["PYTHONPATH"] = src
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read() if process.stderr else b""
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {errors.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def berth_source(src: str | None) -> str:
    """Where `src` (None: this environment) imports berth from."""
    env = {**os.environ, "PYTHONPATH": src} if src else os.environ
    argv = [sys.executable, "-c", "import berth; print(berth.__file__)"]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command (and tree)")
    parser.add_argument("--before", help="a berth src folder to measure too (PYTHONPATH), interleaved")
    args = parser.parse_args()
    trees: dict[str, str | None] = {"this": None}
    if args.before:
        trees = {"before": args.before, "this": None}
    for label, src in trees.items():
        print(f"{label}: berth from {berth_source(src)}")
    with tempfile.TemporaryDirectory(prefix="berth-import-bench-") as tmp, served_home(Path(tmp)) as url:
        commands = {
            "python -c 'import berth'": [sys.executable, "-c", "import berth"],
            "berth --version": [BERTH, "--version"],
            "berth --help": [BERTH, "--help"],
            "berth models list --url URL": [BERTH, "models", "list", "--url", url],
            "berth predict lr --url URL": [BERTH, "predict", "lr", "--json", ROW, "--url", url],
            "berth models list --home H": [BERTH, "models", "list", "--home", str(Path(tmp) / "home")],
        }
        times: dict[tuple[str, str], list[float]] = {(c, t): [] for c in commands for t in trees}
        for _ in range(args.runs):  # interleaved: drift in the machine's load falls on every figure alike
            for command, argv in commands.items():
                for label, src in trees.items():
                    times[command, label].append(cpu_seconds(argv, src))
    print(
        f"\nCPU seconds (user + system) of a fresh process, median [min..max] of {args.runs} runs; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    header = f"{'command':<30}" + "".join(f"{label:>22}" for label in trees)
    print(header + (f"{'this / before':>16}" if len(trees) > 1 else ""))
    for command in commands:
        cells = []
        for label in trees:
            values = times[command, label]
            cells.append(f"{statistics.median(values):.3f} [{min(values):.3f}..{max(values):.3f}]")
        line = f"{command:<30}" + "".join(f"{cell:>22}" for cell in cells)
        if len(trees) > 1:
            ratio = statistics.median(times[command, "this"]) / statistics.median(times[command, "before"])
            line += f"{ratio:>16.2f}"
        print(line)


if __name__ == "__main__":
    main()
