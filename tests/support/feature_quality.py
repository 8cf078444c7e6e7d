"""An endpoint whose features come from a view on the machine's Redis, served to 200 customers,
for the tests of served features' quality (`tests/records/test_feature_quality.py`, the UI's).

Team alpha's endpoint `scoring` looks up `age` and `income` by customer id in `customer-money`
(TTL one hour): of the 200 customers, 160 were written a moment ago (the first 20 without an
income), 20 two hours ago (stale: served as null) and 20 never (missing: null). The incomes are
three standard deviations above the training data's. It also looks up `tenure` in
`customer-tenure`, which holds every customer a moment ago (all hits, nothing null), and which a
later step drops. Team beta has a view of its own, `beta-ledger`, that no endpoint serves. alice
maintains alpha, dave reads it, bob maintains beta, erin is in no team.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from berth.wiring.workspace import open_workspace
from tests.records.helpers import eventually
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import server_in_thread

CUSTOMERS = 200
FRESH, STALE = range(160), range(160, 180)  # 180..199: never written
NO_INCOME = range(20)
VIEW = {
    "name": "customer-money",
    "entity": "customer_id",
    "features": {"age": "float64", "income": "float64"},
    "ttl_s": 3600,
    "on_miss": "null",
    "budget_ms": 10_000,  # generous: the budget is not under test, and a loaded machine stalls
}
TENURE = {
    "name": "customer-tenure",
    "entity": "customer_id",
    "features": {"tenure": "float64"},
    "ttl_s": 3600,
    "on_miss": "null",
    "budget_ms": 10_000,
}
LEDGER = {"name": "beta-ledger", "entity": "customer_id", "features": {"balance": "float64"}}
STEPS = {
    "pre": [
        {
            "type": "features",
            "views": [
                {"view": "customer-money", "key": "customer_id"},
                {"view": "customer-tenure", "key": "customer_id"},
            ],
        },
        {"type": "select", "columns": ["age", "income"]},
    ]
}


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


def _training() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"age": rng.normal(45, 12, 2000), "income": rng.normal(50_000, 8_000, 2000)})


@contextlib.contextmanager
def feature_quality_server(home: Path) -> Iterator[Served]:
    """The server, its endpoint `scoring` and the ten requests' answers (the records may still be
    on their way: `recorded` waits for them)."""
    train = _training()
    model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(train, train["age"] > 45)
    scratch = berth.push(model, name="scratch", home=home, input_example=train.head(3)).signature
    nan_allowed = tuple(replace(spec, allow_nan=True) for spec in scratch.inputs)  # the imputer fills them
    berth.push(
        model,
        name="money",
        home=home,
        signature=replace(scratch, inputs=nan_allowed),
        reference=train,
        team="alpha",
    )
    settings = Settings(
        home=home, poll_interval_s=0.1, auth="tokens", journal_rotate_s=0.5, ingest_interval_s=0.05
    )
    security = SqlSecurityStore(settings.resolved_database_url)
    try:
        security.set_member("alpha", "alice", Role.MAINTAINER)
        security.set_member("alpha", "dave", Role.READER)
        security.create_team("beta")
        security.set_member("beta", "bob", Role.MAINTAINER)
        tokens = {n: security.create_token(n).secret for n in ("alice", "dave", "bob", "erin")}
    finally:
        security.close()
    with redis_prefix() as prefix:
        yield from _serve(settings, tokens, f"redis://{redis_address()}/0?prefix={prefix}")


def _serve(settings: Settings, tokens: dict[str, str], source: str) -> Iterator[Served]:
    workspace = open_workspace(settings)
    try:
        workspace.features.create(VIEW | {"source": source}, team="alpha")
        workspace.features.create(TENURE | {"source": source}, team="alpha")
        workspace.features.create(LEDGER | {"source": source}, team="beta")
        rng = np.random.default_rng(6)
        rows = {
            f"c-{i}": {"age": float(rng.normal(45, 12))}
            | ({} if i in NO_INCOME else {"income": float(rng.normal(74_000, 8_000))})
            for i in (*FRESH, *STALE)
        }
        now = time.time()
        workspace.features.put("customer-money", {k: rows[k] for k in (f"c-{i}" for i in FRESH)}, at=now)
        workspace.features.put("customer-money", {f"c-{i}": rows[f"c-{i}"] for i in STALE}, at=now - 7200)
        tenures = {f"c-{i}": {"tenure": float(i % 12)} for i in range(CUSTOMERS)}
        workspace.features.put("customer-tenure", tenures, at=now)
    finally:
        workspace.close()
    with server_in_thread(settings) as url:
        made = httpx.post(
            f"{url}/api/v1/endpoints",
            headers={"authorization": f"Bearer {tokens['alice']}"},
            json={"name": "scoring", "team": "alpha", "targets": [{"target": "money:1"}], "pipeline": STEPS},
        )
        assert made.status_code == 201, made.text
        for start in range(0, CUSTOMERS, 20):
            ids = [f"c-{i}" for i in range(start, start + 20)]
            answer = httpx.post(
                f"{url}/v2/models/scoring/infer",
                headers={"authorization": f"Bearer {tokens['alice']}"},
                json={"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [20], "data": ids}]},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        yield Served(url, settings, tokens)


def monitor(served: Served, who: str) -> httpx.Response:
    return httpx.get(f"{served.url}/api/v1/monitor/scoring", headers=served.auth(who), timeout=60)


def recorded(served: Served) -> dict[str, Any]:
    """The monitoring answer once the ten requests' records are in."""
    body: dict[str, Any] = eventually(
        lambda: monitor(served, "dave").json(),
        lambda b: sum(sum(s) for s in b["traffic"]["series"].values()) == CUSTOMERS // 20,
    )
    return body
