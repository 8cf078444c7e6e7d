"""How fast workers drain the job queue: claim + finish per second, on SQLite and PostgreSQL, with
1 and 4 claiming threads (each its own connection), and a check that no job was claimed twice.

    .venv/bin/python bench/job_bench.py [--jobs 500] [--postgres postgresql://postgres@127.0.0.1/postgres]

Print-only: compare the ratios within one run (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
from psycopg import sql

from berth.core.jobs import NewJob
from berth.storage.sql_jobs import SqlJobStore


def drain(url: str, jobs: int, threads: int) -> tuple[float, int]:
    """Seconds to claim and finish `jobs` jobs with `threads` threads; how many were claimed twice."""
    store = SqlJobStore(url)
    try:
        for _ in range(jobs):
            store.enqueue(NewJob("noop"))
        claimed: Counter[int] = Counter()
        lock = threading.Lock()

        def work(name: str) -> None:
            while (job := store.claim(name, None, 30.0)) is not None:
                with lock:
                    claimed[job.id] += 1
                store.finish(job.id, name, None)

        started = time.perf_counter()
        pool = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        if len(claimed) != jobs:
            raise SystemExit(f"{len(claimed)} of {jobs} jobs claimed")
        return elapsed, sum(1 for n in claimed.values() if n > 1)
    finally:
        store.close()


def postgres_database(server: str) -> tuple[str, str]:
    name = f"berth_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, server.rsplit("/", 1)[0] + f"/{name}"


def drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"{'database':<11} {'threads':>7} {'jobs/s':>8} {'twice':>6} {'vs 1 thread':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for database in ("sqlite", "postgresql"):
            base = None
            for threads in (1, 4):
                if database == "sqlite":
                    url, name = f"sqlite:///{Path(folder) / f'{threads}.db'}", None
                else:
                    try:
                        name, url = postgres_database(args.postgres)
                    except psycopg.Error as exc:
                        print(f"postgresql  skipped: {exc}")
                        break
                try:
                    elapsed, twice = drain(url, args.jobs, threads)
                finally:
                    if name is not None:
                        drop(args.postgres, name)
                rate = args.jobs / elapsed
                base = base or rate
                print(f"{database:<11} {threads:>7} {rate:>8.0f} {twice:>6} {rate / base:>12.2f}")


if __name__ == "__main__":
    main()
