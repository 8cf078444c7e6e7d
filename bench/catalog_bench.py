"""How fast the catalog answers on 10,000 models, on SQLite and on PostgreSQL: through the store,
and through ``GET /api/v1/catalog`` of a real ``berth serve`` with API tokens on.

Run: ``PYTHONPATH=src .venv/bin/python bench/catalog_bench.py [--models 10000] [--runs 50]``.
Needs the PostgreSQL server at ``BERTH_TEST_POSTGRES_URL`` (a throw-away database is made and
dropped). Models are written in bulk with SQL (the registry's own tables, ``search_text`` made by
`berth.core.catalog.search_text` as the registry makes it): 50 teams, a fifth discoverable, two
versions each with a model card of about 1 kB, four flavors, 30 days of consumer usage (10 rows a
model). The viewer is a reader of one team (what the rights filter costs is measured too), and a
platform administrator (every row). Prints p50/p95 in milliseconds per search.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from bench_db import fresh_database
from sqlalchemy import insert, select, text

from berth.core.access import Role
from berth.core.catalog import CatalogQuery, Viewer, search_text
from berth.storage.schema import consumer_usage, models, versions
from berth.storage.security_store import SqlSecurityStore, ensure_team
from berth.storage.sql_catalog import SqlCatalogStore
from berth.storage.sql_registry import SqlRegistryStore

BERTH = str(Path(sys.executable).with_name("berth"))
WORDS = (
    "churn", "fraud", "credit", "risk", "demand", "forecast", "price", "retail", "energy", "sensor",
    "anomaly", "text", "sentiment", "ranking", "recommendation", "click", "conversion", "lifetime",
    "value", "claims", "insurance", "weather", "traffic",
)  # fmt: skip
FLAVORS = ("sklearn", "xgboost", "lightgbm", "onnx")
TASKS = ("classification", "regression", "text", "")
SIGNATURE = {
    "layout": "tensor",
    "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 20]}],
    "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1]}],
}
SEARCHES: dict[str, CatalogQuery] = {
    "text (1 word)": CatalogQuery(text="churn"),
    "text (2 words)": CatalogQuery(text="retail forecast"),
    "filter task+flavor": CatalogQuery(task="regression", flavor="xgboost"),
    "filter team": CatalogQuery(team="team-7"),
    "sort by usage": CatalogQuery(sort="usage"),
    "text + sort by usage": CatalogQuery(text="risk", sort="usage"),
    "sort recent, page 3": CatalogQuery(sort="recent", limit=50),
}


def fill(store: SqlRegistryStore, count: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        words = rng.sample(WORDS, 4)
        team = f"team-{i % 50}"
        card = {
            "intended_use": f"Scores {' '.join(words)} for {team}. " * 6,
            "limitations": "Evaluated on 2025 data only; " * 8,
            "owners": f"{team}@example.com",
        }
        rows.append(
            {
                "model": {
                    "name": f"{words[0]}-{i:05d}",
                    "uid": uuid.uuid4().hex,
                    "team": team,
                    "description": f"A {words[1]} and {words[2]} model",
                    "tags": {"domain": words[3]},
                    "created_at": now - timedelta(minutes=i),
                    "updated_at": now - timedelta(minutes=i),
                    "visibility": "discoverable" if i % 5 == 0 else "private",
                    "contact": f"{team}@example.com",
                    "task": TASKS[i % 4],
                },
                "flavor": FLAVORS[(i // 4) % 4],
                "card": card,
            }
        )
    with store.engine.begin() as conn:
        for r in rows:
            m = r["model"]
            m["search_text"] = search_text(
                name=m["name"],
                description=m["description"],
                contact=m["contact"],
                tags=m["tags"],
                task=m["task"],
                flavor=r["flavor"],
                metric_names=["accuracy", "roc_auc"],
                card=r["card"],
            )
        conn.execute(insert(models), [r["model"] for r in rows])
        ids = {row.name: row.id for row in conn.execute(select(models.c.id, models.c.name))}
        conn.execute(
            insert(versions),
            [
                {
                    "model_id": ids[r["model"]["name"]],
                    "number": n,
                    "flavor": r["flavor"],
                    "artifact_sha256": "0" * 64,
                    "artifact_uri": "file:///nowhere",
                    "artifact_size": 1,
                    "artifact_filename": "model.skops",
                    "signature": SIGNATURE,
                    "runtime_config": {},
                    "input_example": None,
                    "metrics": {"accuracy": 0.9, "roc_auc": 0.8},
                    "params": {},
                    "feature_importance": {},
                    "docs": "",
                    "training_data": "",
                    "tags": {},
                    "trusted": False,
                    "pushed_by": "bench",
                    "source": "bench",
                    "created_at": now,
                    "card": r["card"],
                }
                for r in rows
                for n in (1, 2)
            ],
        )
        usage = []
        for r in rows:
            name = r["model"]["name"]
            for d in range(10):
                day = (now - timedelta(days=rng.randrange(40))).strftime("%Y-%m-%d")
                usage.append(
                    {
                        "endpoint": name, "model": name, "version": 2, "principal": f"p{d}",
                        "team": f"team-{d}", "day": day, "calls": rng.randrange(1, 5000), "errors": 0,
                        "last_at": now,
                    }
                )  # fmt: skip
        for start in range(0, len(usage), 20_000):
            conn.execute(insert(consumer_usage), usage[start : start + 20_000])
        for team in {r["model"]["team"] for r in rows}:
            ensure_team(conn, team)
    if store.engine.dialect.name == "postgresql":  # what autovacuum gathers after a bulk load
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def store_figures(catalog: SqlCatalogStore, runs: int) -> dict[str, tuple[float, float]]:
    reader = Viewer(teams=frozenset({"team-3"}))
    found: dict[str, tuple[float, float]] = {}
    for label, query in SEARCHES.items():
        if label.endswith("page 3"):
            second = catalog.search(query, reader).next_cursor
            third = catalog.search(CatalogQuery(sort="recent", limit=50, cursor=second), reader).next_cursor
            query = CatalogQuery(sort="recent", limit=50, cursor=third)
        found[f"reader: {label}"] = timed(lambda q=query: catalog.search(q, reader), runs)
        print(
            f"| reader: {label} | {found[f'reader: {label}'][0]:.1f} | {found[f'reader: {label}'][1]:.1f} |",
            flush=True,
        )
    for label in ("text (1 word)", "sort by usage"):
        query = SEARCHES[label]
        found[f"admin: {label}"] = timed(lambda q=query: catalog.search(q, Viewer(everything=True)), runs)
    name = catalog.search(CatalogQuery(visibility="discoverable", limit=1), reader).entries[0].name
    found["reader: detail of one entry"] = timed(lambda: catalog.detail(name), runs)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rest_figures(home: Path, database_url: str, runs: int) -> dict[str, tuple[float, float]]:
    security = SqlSecurityStore(database_url)
    try:
        security.set_member("team-3", "reader", Role.READER)
        token = security.create_token("reader").secret
    finally:
        security.close()
    port = free_port()
    env = {**os.environ, "BERTH_DATABASE_URL": database_url, "BERTH_AUTH": "tokens"}
    argv = [BERTH, "serve", "--home", str(home), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"authorization": f"Bearer {token}"}

        def get(params: dict[str, object]) -> dict[str, object]:
            conn.request("GET", "/api/v1/catalog?" + urlencode(params), headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {body[:200]!r}")
            parsed: dict[str, object] = json.loads(body)
            return parsed

        deadline = time.monotonic() + 120
        while True:
            try:
                get({})
                break
            except (OSError, RuntimeError, http.client.HTTPException):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("berth serve did not start") from None
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                time.sleep(0.2)
        found = {}
        for label, query in SEARCHES.items():
            if label.endswith("page 3"):
                continue
            params = {k: v for k, v in vars_of(query).items() if v is not None}
            found[f"REST reader: {label}"] = timed(lambda p=params: get(p), runs)
        conn.close()
        return found
    finally:
        process.terminate()
        process.wait(timeout=30)


def vars_of(query: CatalogQuery) -> dict[str, object]:
    return {
        "q": query.text,
        "team": query.team,
        "flavor": query.flavor,
        "task": query.task,
        "sort": query.sort,
        "limit": query.limit,
    }


def run(label: str, database_url: str, home: Path, count: int, runs: int) -> None:
    store = SqlRegistryStore(database_url)
    try:
        t0 = time.perf_counter()
        fill(store, count)
        print(f"\n## {label}: {count:,} models written in {time.perf_counter() - t0:.1f} s")
        figures = store_figures(SqlCatalogStore(store.engine), runs)
    finally:
        store.close()
    figures |= rest_figures(home, database_url, runs)
    print("| search | p50 ms | p95 ms |\n|---|---|---|")
    for name, (p50, p95) in figures.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-catalog-bench-") as folder:
        if args.only != "postgresql":
            home = Path(folder) / "sqlite"
            run("SQLite", f"sqlite:///{home / 'berth.db'}", home, args.models, args.runs)
        if args.only != "sqlite":
            with fresh_database() as url:
                run("PostgreSQL", url, Path(folder) / "pg", args.models, args.runs)


if __name__ == "__main__":
    main()
