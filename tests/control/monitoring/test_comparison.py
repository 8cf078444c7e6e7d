"""A/B comparison: intervals from the literature, verdicts, not enough data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from berth.control.monitoring.comparison import compare_variants, newcombe_interval, welch_interval
from berth.core.records import LabelledPrediction
from tests.control.monitoring.helpers import labelled


def _variant(name: str, hits: int, n: int) -> list[LabelledPrediction]:
    return labelled(["y"] * n, ["y"] * hits + ["n"] * (n - hits), variant=name)


def test_newcombe_interval_matches_newcombes_worked_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10
    low, high = newcombe_interval(48, 80, 56, 70, 1.959964)

    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_welch_interval_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 40), rng.normal(1.5, 2.0, 60)

    low, high = welch_interval(list(a), list(b), 0.95)

    expected = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high))


@pytest.mark.parametrize(
    ("hits_a", "hits_b", "verdict"),
    [(700, 800, "b better"), (800, 700, "a better"), (750, 760, "no significant difference")],
)
def test_accuracy_verdicts(hits_a: int, hits_b: int, verdict: str) -> None:
    result = compare_variants(_variant("a", hits_a, 1000) + _variant("b", hits_b, 1000), "a", "b")

    assert result.metric == "accuracy"
    assert result.method == "newcombe_wilson"
    assert result.verdict == verdict
    assert result.difference == pytest.approx((hits_b - hits_a) / 1000)
    assert result.ci_low is not None
    assert result.ci_high is not None
    assert result.difference is not None
    assert result.ci_low < result.difference < result.ci_high


def test_mae_verdict_lower_is_better() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=300)
    items = labelled(
        list(truth + rng.normal(0, 1, 300)), list(truth), regression=True, variant="a"
    ) + labelled(list(truth + rng.normal(0, 0.3, 300)), list(truth), regression=True, variant="b")

    result = compare_variants(items, "a", "b")

    assert (result.metric, result.method, result.verdict) == ("mae", "welch", "b better")
    assert result.difference is not None
    assert result.difference < 0


def test_not_enough_data_and_no_data() -> None:
    few = compare_variants(_variant("a", 5, 10) + _variant("b", 9, 10), "a", "b")
    none = compare_variants([], "a", "b")

    assert few.verdict == "not enough data"
    assert (few.n_a, few.n_b, few.ci_low) == (10, 10, None)
    assert none.verdict == "not enough data"
    assert none.metric is None
    json.dumps(none.to_json(), allow_nan=False)
