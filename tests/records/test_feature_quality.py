"""Issue 16 item 5: the quality of served features in monitoring, over a real server
(`tests.support.feature_quality`: a view on the machine's Redis, with fresh, two-hour-old and
absent customers; Redis keeps each value's write time, the embedded table stamps its own). The
monitoring answer says so per view and feature, alert rules fire on it, and a principal of another
team sees none of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from berth.cli.main import cli
from berth.control.alerts.evaluator import AlertEvaluator
from berth.control.alerts.rules import Metric
from berth.control.served_features import ServedFeatures
from berth.core.settings import Settings
from berth.storage.db import create_database_engine
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.wiring.workspace import open_workspace
from tests.support.feature_quality import CUSTOMERS, Served, feature_quality_server, monitor, recorded
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with feature_quality_server(tmp_path_factory.mktemp("feature-quality") / "home") as found:
        yield found


@pytest.fixture(scope="module")
def postgres_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The same, with the registry, the records and the security tables on a fresh PostgreSQL."""
    with fresh_postgres_database() as url, pytest.MonkeyPatch.context() as env:
        env.setenv("BERTH_DATABASE_URL", url)  # for the pushes and the server, which read the settings
        with feature_quality_server(tmp_path_factory.mktemp("feature-quality-pg") / "home") as found:
            yield found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_served(request: pytest.FixtureRequest) -> Served:
    found: Served = request.getfixturevalue("served" if request.param == "sqlite" else "postgres_served")
    return found


def test_monitoring_shows_null_rate_freshness_and_drift_per_view_and_feature(any_served: Served) -> None:
    views = {v["view"]: v for v in recorded(any_served)["features"]}
    assert list(views) == ["customer-money", "customer-tenure"]
    view = views["customer-money"]
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
    # what each look-up found at serving time, from the records
    lookups = view["lookups"]
    assert (lookups["records"], lookups["rows"]) == (CUSTOMERS // 20, CUSTOMERS)
    assert lookups["hit_share"] == pytest.approx(160 / CUSTOMERS)
    assert lookups["stale_share"] == pytest.approx(20 / CUSTOMERS)
    assert lookups["miss_share"] == pytest.approx(20 / CUSTOMERS)
    assert lookups["unavailable_share"] == 0.0
    assert 0 <= lookups["age_at_read_s"]["p50"] <= lookups["age_at_read_s"]["max"] < 600  # fresh hits only
    # the served incomes moved, the ages did not
    assert features["income"]["drift"]["drifted"] is True
    assert features["age"]["drift"]["drifted"] is False
    # the other view: every customer found fresh; its feature is dropped before the model
    tenure = views["customer-tenure"]
    assert tenure["lookups"]["hit_share"] == 1.0
    assert tenure["freshness"]["missing_share"] == tenure["freshness"]["stale_share"] == 0.0
    assert tenure["features"][0]["null_rate"] is None


def test_alert_rules_fire_on_served_feature_quality(any_served: Served) -> None:
    served = any_served
    recorded(served)
    rules = [
        ("money-nulls", "feature_null_rate", 0.25),
        ("money-stale", "feature_stale_share", 0.05),
        ("money-missing", "feature_missing_share", 0.05),
        ("money-drift", "feature_drift_share", 0.4),
        ("money-quiet", "feature_null_rate", 0.5),
        ("money-misses", "feature_miss_share", 0.15),
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
        "money-misses",
        "money-missing",
        "money-nulls",
        "money-stale",
    ]
    assert observed.value == pytest.approx(60 / CUSTOMERS)


def _rule(served: Served, who: str, rule: dict[str, Any], method: str = "POST") -> httpx.Response:
    url = f"{served.url}/api/v1/alerts/rules" + ("" if method == "POST" else f"/{rule['name']}")
    body = rule | {"window_s": 3600, "min_samples": 10} if method == "POST" else rule
    return httpx.request(method, url, headers=served.auth(who), json=body)


def test_a_rule_on_one_view_or_feature_fires_for_it_alone(any_served: Served) -> None:
    served = any_served
    recorded(served)
    one = {"target": "scoring", "op": ">"}
    rules = [
        # customer-money misses 20% of its look-ups (miss or stale) and has 10% of its entities gone,
        # customer-tenure none
        one
        | {
            "name": "v-money-misses",
            "metric": "feature_miss_share",
            "threshold": 0.15,
            "view": "customer-money",
        },
        one
        | {
            "name": "v-tenure-misses",
            "metric": "feature_miss_share",
            "threshold": 0.0,
            "view": "customer-tenure",
        },
        one
        | {
            "name": "v-money-gone",
            "metric": "feature_missing_share",
            "threshold": 0.05,
            "view": "customer-money",
        },
        one
        | {
            "name": "v-tenure-gone",
            "metric": "feature_missing_share",
            "threshold": 0.0,
            "view": "customer-tenure",
        },
        one
        | {
            "name": "v-tenure-stale",
            "metric": "feature_stale_share",
            "threshold": 0.0,
            "view": "customer-tenure",
        },
        # of customer-money, income is 30% null and drifts, age 20% null and does not
        one
        | {
            "name": "v-income-nulls",
            "metric": "feature_null_rate",
            "threshold": 0.25,
            "view": "customer-money",
            "feature": "income",
        },
        one
        | {
            "name": "v-age-nulls",
            "metric": "feature_null_rate",
            "threshold": 0.25,
            "view": "customer-money",
            "feature": "age",
        },
        one
        | {
            "name": "v-income-drift",
            "metric": "feature_drift_share",
            "threshold": 0.5,
            "view": "customer-money",
            "feature": "income",
        },
        one
        | {
            "name": "v-age-drift",
            "metric": "feature_drift_share",
            "threshold": 0.0,
            "view": "customer-money",
            "feature": "age",
        },
    ]
    for rule in rules:
        made = _rule(served, "alice", rule)
        assert made.status_code == 201, made.text
        assert (made.json()["view"], made.json()["feature"]) == (rule["view"], rule.get("feature"))
    workspace = open_workspace(served.settings)
    evaluator = AlertEvaluator(workspace.alerts, workspace.monitor, None)
    try:
        fired = evaluator.evaluate_all(datetime.now(UTC))
    finally:
        evaluator.close()
        workspace.close()
    mine = {r["name"] for r in rules}
    fired_now = [t for t in fired if t.kind == "fired" and t.rule in mine]
    assert sorted(t.rule for t in fired_now) == [
        "v-income-drift",
        "v-income-nulls",
        "v-money-gone",
        "v-money-misses",
    ]
    by_name = {t.rule: t for t in fired_now}
    assert by_name["v-money-misses"].value == pytest.approx(40 / CUSTOMERS)
    assert by_name["v-income-nulls"].value == pytest.approx(60 / CUSTOMERS)
    assert "(view customer-money, feature income)" in by_name["v-income-nulls"].message
    states = {
        r["name"]: r["state"]
        for r in httpx.get(f"{served.url}/api/v1/alerts/rules", headers=served.auth("dave")).json()["rules"]
        if r["name"] in mine
    }
    assert states["v-tenure-misses"] == states["v-age-nulls"] == states["v-age-drift"] == "ok"
    for rule in rules:
        assert _rule(served, "alice", {"name": rule["name"]}, "DELETE").status_code == 200


BAD_SELECTORS = [
    ({"metric": "feature_null_rate", "view": "no-such-view"}, "serves no feature view 'no-such-view'"),
    ({"metric": "feature_null_rate", "view": "beta-ledger"}, "serves no feature view 'beta-ledger'"),
    ({"metric": "feature_null_rate", "view": "customer-money", "feature": "tenure"}, "no feature 'tenure'"),
    ({"metric": "feature_miss_share", "view": "customer-money", "feature": "age"}, "feature: only for"),
    ({"metric": "feature_null_rate", "feature": "age"}, "feature: needs the view"),
    ({"metric": "error_rate", "view": "customer-money"}, "view: only for"),
    ({"metric": "feature_null_rate", "view": 7}, "view: a string"),
]


@pytest.mark.parametrize(("selector", "said"), BAD_SELECTORS)
def test_a_bad_view_or_feature_is_refused(served: Served, selector: dict[str, Any], said: str) -> None:
    rule = {"name": "bad-selector", "target": "scoring", "op": ">", "threshold": 0} | selector
    answer = _rule(served, "alice", rule)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert said in answer.json()["error"]


def test_another_teams_view_answers_like_a_missing_one(served: Served) -> None:
    """beta's view is not served by alpha's endpoint; naming it says no more than a name never made."""
    rule = {
        "name": "peek-ledger",
        "target": "scoring",
        "op": ">",
        "threshold": 0,
        "metric": "feature_null_rate",
    }
    theirs = _rule(served, "alice", rule | {"view": "beta-ledger"})
    none = _rule(served, "alice", rule | {"view": "no-such-view"})
    assert theirs.status_code == none.status_code == 400
    assert theirs.json()["error"].replace("beta-ledger", "X") == none.json()["error"].replace(
        "no-such-view", "X"
    )
    # bob, who reads beta-ledger, maintains no rule on alpha's endpoint, with or without a view
    assert _rule(served, "bob", rule | {"view": "customer-money"}).status_code in (403, 404)


def test_a_rule_changed_to_a_view_the_endpoint_does_not_serve_is_refused(served: Served) -> None:
    rule = {
        "name": "narrowed",
        "target": "scoring",
        "op": ">",
        "threshold": 0.5,
        "metric": "feature_miss_share",
    }
    assert _rule(served, "alice", rule).status_code == 201
    try:
        moved = _rule(served, "alice", {"name": "narrowed", "view": "customer-tenure"}, "PUT")
        assert moved.status_code == 200, moved.text
        assert moved.json()["view"] == "customer-tenure"
        wrong = _rule(served, "alice", {"name": "narrowed", "view": "beta-ledger"}, "PUT")
        assert wrong.status_code == 400, wrong.text
        kept = httpx.get(f"{served.url}/api/v1/alerts/rules/narrowed", headers=served.auth("dave")).json()
        assert kept["view"] == "customer-tenure"
        # back to the worst over the views
        widened = _rule(served, "alice", {"name": "narrowed", "view": None}, "PUT")
        assert widened.status_code == 200
        assert widened.json()["view"] is None
    finally:
        _rule(served, "alice", {"name": "narrowed"}, "DELETE")


def test_another_team_sees_no_feature_quality(served: Served) -> None:
    recorded(served)
    assert monitor(served, "alice").status_code == 200
    for who in ("bob", "erin"):
        refused = monitor(served, who)
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


def test_a_store_that_cannot_be_reached_reads_as_unavailable(settings: Settings) -> None:
    """Monitoring never fails for a feature store: the view's freshness says it did not answer."""
    workspace = open_workspace(settings)
    engine = create_database_engine(settings.resolved_database_url)
    try:
        away = workspace.features.create(
            {
                "name": "away",
                "entity": "k",
                "features": {"x": "float64"},
                "source": f"redis://127.0.0.1:{free_port()}/0",
            },
            team=None,
        )
        served = ServedFeatures(SqlEndpointStore(engine), workspace.features)
        assert served.read(away, ["a", "b"]) is None
        assert served.views("no-such-endpoint") == []
    finally:
        engine.dispose()
        workspace.close()


def test_the_cli_prints_the_served_features(served: Served) -> None:
    recorded(served)
    args = ["monitor", "scoring", "--url", served.url, "--token", served.tokens["dave"]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (
        "features of view customer-money (redis, by customer_id): 200 entities served, "
        "10.0% not in the store, 10.0% older than the TTL" in result.output
    )
    assert (
        "at serving time: 200 rows looked up, 80.0% hit, 10.0% missed, 10.0% stale, 0.0% unavailable"
        in result.output
    )
    lines = [line.split() for line in result.output.splitlines()]
    assert ["income", "200", "30.0%", "drifted"] in lines
    assert ["age", "200", "20.0%", "ok"] in lines


def test_the_cli_adds_and_lists_a_rule_on_one_feature(served: Served) -> None:
    rule = {
        "name": "cli-income",
        "target": "scoring",
        "metric": "feature_null_rate",
        "op": ">",
        "threshold": 0.25,
        "view": "customer-money",
        "feature": "income",
    }
    where = ["--url", served.url, "--token", served.tokens["alice"]]
    added = CliRunner().invoke(cli, ["alert", "add", json.dumps(rule), *where])
    assert added.exit_code == 0, added.output
    try:
        listed = CliRunner().invoke(cli, ["alert", "list", "--target", "scoring", *where])
        assert ["cli-income", "scoring", "feature_null_rate", "customer-money/income"] in [
            line.split()[:4] for line in listed.output.splitlines()
        ]
        wrong = CliRunner().invoke(
            cli, ["alert", "add", json.dumps(rule | {"name": "cli-x", "feature": "x"}), *where]
        )
        assert wrong.exit_code != 0
        assert "serves no feature 'x' of view 'customer-money'" in str(wrong.exception)
    finally:
        CliRunner().invoke(cli, ["alert", "delete", "cli-income", *where])
