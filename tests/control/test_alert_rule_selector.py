"""An alert rule's view and feature: what the rule itself checks (the server's checks of what an
endpoint serves, and of who may read it, are in `tests/records/test_feature_quality.py`)."""

from __future__ import annotations

import pytest

from berth.control.alerts.rules import AlertRule
from berth.core.errors import BerthError

RULE = {"name": "r", "target": "scoring", "metric": "feature_null_rate", "op": ">", "threshold": 0.1}
SERVED = {"customer-money": ("age", "income")}


def test_a_rule_stored_before_selectors_loads_as_watching_every_view() -> None:
    rule = AlertRule.from_json(RULE)
    assert (rule.view, rule.feature) == (None, None)
    assert rule.describe(0.5) == "feature_null_rate of scoring is 0.5 (> 0.1 over 3600 s)"
    rule.check_served({})  # nothing named, nothing to check


def test_a_selector_round_trips_and_is_checked_against_what_is_served() -> None:
    rule = AlertRule.from_json(RULE | {"view": "customer-money", "feature": "income"})
    assert AlertRule.from_json(rule.to_json(with_secret=True)) == rule
    assert "(view customer-money, feature income)" in rule.describe(0.5)
    rule.check_served(SERVED)
    with pytest.raises(BerthError, match="serves no feature view 'customer-money'"):
        rule.check_served({})
    with pytest.raises(BerthError, match="serves no feature 'income'"):
        rule.check_served({"customer-money": ("age",)})
    assert rule.with_updates({"view": None, "feature": None}).view is None


def test_a_change_of_metric_keeps_a_selector_only_where_it_means_something() -> None:
    rule = AlertRule.from_json(RULE | {"view": "customer-money", "feature": "income"})
    with pytest.raises(BerthError, match="feature: only for"):
        rule.with_updates({"metric": "feature_miss_share"})
    assert rule.with_updates({"metric": "feature_miss_share", "feature": None}).view == "customer-money"
    with pytest.raises(BerthError, match="view: only for"):
        rule.with_updates({"metric": "error_rate", "feature": None})
