"""Issue 16 item 5: the quality of served features in monitoring, over a real server. An endpoint of
team alpha looks up `age` and `income` by customer id in a feature view on the machine's Redis
(TTL one hour; Redis keeps each value's write time, the embedded table stamps its own):
of the 200 customers it serves, 160 were written a moment ago (the first 20 of them without an
income), 20 two hours ago (stale: served as null) and 20 never (missing: null). The incomes served
are three standard deviations above the training data's. The monitoring answer says so per view
and feature, alert rules fire on it, and a principal of another team sees none of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import berth
from berth.control.alerts.evaluator import AlertEvaluator
from berth.control.alerts.rules import Metric
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
}
STEPS = {
    "pre": [
        {"type": "features", "views": [{"view": "customer-money", "key": "customer_id"}]},
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("feature-quality") / "home"
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
        rng = np.random.default_rng(6)
        rows = {
            f"c-{i}": {"age": float(rng.normal(45, 12))}
            | ({} if i in NO_INCOME else {"income": float(rng.normal(74_000, 8_000))})
            for i in (*FRESH, *STALE)
        }
        now = time.time()
        workspace.features.put("customer-money", {k: rows[k] for k in (f"c-{i}" for i in FRESH)}, at=now)
        workspace.features.put("customer-money", {f"c-{i}": rows[f"c-{i}"] for i in STALE}, at=now - 7200)
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


def _monitor(served: Served, who: str) -> httpx.Response:
    return httpx.get(f"{served.url}/api/v1/monitor/scoring", headers=served.auth(who), timeout=60)


def _recorded(served: Served) -> dict[str, Any]:
    """The monitoring answer once the ten requests' records are in."""
    body: dict[str, Any] = eventually(
        lambda: _monitor(served, "dave").json(),
        lambda b: sum(sum(s) for s in b["traffic"]["series"].values()) == CUSTOMERS // 20,
    )
    return body


def test_monitoring_shows_null_rate_freshness_and_drift_per_view_and_feature(served: Served) -> None:
    [view] = _recorded(served)["features"]
    assert (view["view"], view["key"], view["source"], view["ttl_s"]) == (
        "customer-money",
        "customer_id",
        "redis",
        3600,
    )
    features = {f["feature"]: f for f in view["features"]}
    # stale and missing customers are served null (on_miss: null); 20 more have no income
    assert features["age"]["rows"] == CUSTOMERS
    assert features["age"]["null_rate"] == pytest.approx(40 / CUSTOMERS)
    assert features["income"]["null_rate"] == pytest.approx(60 / CUSTOMERS)
    freshness = view["freshness"]
    assert freshness["status"] == "ok"
    assert freshness["entities"] == CUSTOMERS
    assert freshness["missing_share"] == pytest.approx(20 / CUSTOMERS)
    assert freshness["stale_share"] == pytest.approx(20 / CUSTOMERS)
    assert 7200 <= freshness["age_s"]["max"] < 7200 + 600
    assert 0 <= freshness["age_s"]["p50"] < 600
    assert freshness["age_p95_over_ttl"] == pytest.approx(freshness["age_s"]["p95"] / 3600)
    # the served incomes moved, the ages did not
    assert features["income"]["drift"]["drifted"] is True
    assert features["age"]["drift"]["drifted"] is False


def test_alert_rules_fire_on_served_feature_quality(served: Served) -> None:
    _recorded(served)
    rules = [
        ("money-nulls", "feature_null_rate", 0.25),
        ("money-stale", "feature_stale_share", 0.05),
        ("money-missing", "feature_missing_share", 0.05),
        ("money-drift", "feature_drift_share", 0.4),
        ("money-quiet", "feature_null_rate", 0.5),
    ]
    for name, metric, threshold in rules:
        rule = {"name": name, "target": "scoring", "metric": metric, "op": ">", "threshold": threshold}
        made = httpx.post(
            f"{served.url}/api/v1/alerts/rules",
            headers=served.auth("alice"),
            json=rule | {"window_s": 3600, "min_samples": 10},
        )
        assert made.status_code == 201, made.text
    workspace = open_workspace(served.settings)
    evaluator = AlertEvaluator(workspace.alerts, workspace.monitor, None)
    try:
        fired = evaluator.evaluate_all(datetime.now(UTC))
        observed = workspace.monitor.observe("scoring", Metric.FEATURE_NULL_RATE, 3600, datetime.now(UTC))
    finally:
        evaluator.close()
        workspace.close()
    assert sorted(t.rule for t in fired if t.kind == "fired") == [
        "money-drift",
        "money-missing",
        "money-nulls",
        "money-stale",
    ]
    assert observed.value == pytest.approx(60 / CUSTOMERS)


def test_another_team_sees_no_feature_quality(served: Served) -> None:
    _recorded(served)
    assert _monitor(served, "alice").status_code == 200
    for who in ("bob", "erin"):
        refused = _monitor(served, who)
        assert refused.status_code in (403, 404), refused.text
        assert "customer-money" not in refused.text
        assert "features" not in refused.json()
    rule = {
        "name": "beta-peek",
        "target": "scoring",
        "metric": "feature_null_rate",
        "op": ">",
        "threshold": 0,
    }
    peek = httpx.post(f"{served.url}/api/v1/alerts/rules", headers=served.auth("bob"), json=rule)
    assert peek.status_code in (403, 404), peek.text


def test_a_model_called_by_name_has_no_served_features(served: Served) -> None:
    body = httpx.get(f"{served.url}/api/v1/monitor/money", headers=served.auth("dave"), timeout=60).json()
    assert body["features"] == []


def test_an_unknown_alert_metric_is_refused_with_the_feature_ones_listed(served: Served) -> None:
    rule = {"name": "bad", "target": "scoring", "metric": "feature_nul_rate", "op": ">", "threshold": 0}
    answer = httpx.post(f"{served.url}/api/v1/alerts/rules", headers=served.auth("alice"), json=rule)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_request"
    assert "feature_null_rate" in answer.json()["error"]
