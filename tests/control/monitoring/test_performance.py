"""Accuracy from feedback: metrics as scikit-learn computes them, groups, buckets, no data."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from berth.control.monitoring.performance import performance
from berth.core.errors import BerthError, ErrorCode
from tests.control.monitoring.helpers import labelled

RNG = np.random.default_rng(5)


def test_classification_metrics_match_scikit_learn() -> None:
    truth = RNG.choice(["cat", "dog", "eel"], 400)
    predicted = np.where(RNG.random(400) < 0.7, truth, RNG.choice(["cat", "dog", "eel"], 400))
    proba = RNG.dirichlet([1, 1, 1], 400)

    report = performance(labelled(list(predicted), list(truth), probabilities=proba.tolist()))

    m = report.overall
    assert report.task == "classification"
    assert (report.output, report.probabilities) == ("predict", "predict_proba")
    assert m.accuracy == pytest.approx(sk.accuracy_score(truth, predicted))
    assert m.macro_f1 == pytest.approx(sk.f1_score(truth, predicted, average="macro"))
    assert m.per_class["dog"].precision == pytest.approx(
        sk.precision_score(truth, predicted, labels=["dog"], average="macro")
    )
    assert m.per_class["eel"].recall == pytest.approx(
        sk.recall_score(truth, predicted, labels=["eel"], average="macro")
    )
    assert m.log_loss == pytest.approx(sk.log_loss(truth, proba, labels=["cat", "dog", "eel"]))


def test_integer_classes_compare_with_text_labels() -> None:
    report = performance(labelled([0, 1, 1, 0], ["0", "1", "0", "0"]))

    assert report.overall.accuracy == 0.75
    assert report.overall.log_loss is None


def test_regression_metrics_match_scikit_learn() -> None:
    truth = RNG.normal(size=200)
    predicted = truth + RNG.normal(0, 0.5, size=200)

    report = performance(labelled(list(predicted), list(truth), regression=True))

    assert report.task == "regression"
    assert report.overall.mae == pytest.approx(sk.mean_absolute_error(truth, predicted))
    assert report.overall.rmse == pytest.approx(np.sqrt(sk.mean_squared_error(truth, predicted)))


def test_metrics_per_version_variant_and_time_bucket() -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    items = [
        *labelled(["a"] * 10, ["a"] * 10, variant="blue", version=1, at=start),
        *labelled(["a"] * 10, ["b"] * 10, variant="blue", version=1, at=start + timedelta(hours=2)),
        *labelled(["a"] * 4, ["a", "a", "b", "b"], variant="green", version=2, at=start),
    ]

    report = performance(items, bucket_s=3600)

    groups = {(g.version, g.variant): g for g in report.groups}
    blue = groups[(1, "blue")]
    assert [b.metrics.accuracy for b in blue.buckets] == [1.0, 0.0]
    assert blue.buckets[1].start == start + timedelta(hours=2)
    assert blue.metrics.accuracy == 0.5
    assert groups[(2, "green")].metrics.accuracy == 0.5
    assert report.overall.n == 24


def test_an_empty_window_is_no_data() -> None:
    report = performance([])

    assert report.status == "no_data"
    assert report.to_json()["overall"] == {
        "status": "no_data",
        "n": 0,
        "accuracy": None,
        "macro_f1": None,
        "log_loss": None,
        "per_class": {},
        "mae": None,
        "rmse": None,
    }


def test_predictions_without_the_chosen_output_are_skipped() -> None:
    items = labelled(["a", "b"], ["a", "b"])
    broken = replace(items[1], outputs={"predict": {"datatype": "BYTES", "shape": [1], "data": []}})

    report = performance([items[0], broken])

    assert (report.overall.n, report.skipped) == (1, 1)


def test_a_named_output_must_exist_and_buckets_must_be_sane() -> None:
    items = labelled(["a"], ["a"])

    with pytest.raises(BerthError) as missing:
        performance(items, output="nope")
    with pytest.raises(BerthError) as bucket:
        performance(items, bucket_s=0)

    assert missing.value.code is ErrorCode.OUTPUT_NOT_FOUND
    assert bucket.value.code is ErrorCode.INVALID_REQUEST


_label = st.one_of(st.none(), st.sampled_from(["a", "b", "1"]))
_cell = st.one_of(st.none(), st.floats(), st.integers(-(2**70), 2**70), st.text(max_size=2), st.booleans())


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(_cell, _label, st.one_of(st.none(), st.floats())), max_size=30))
def test_any_labelled_predictions_give_finite_json(rows: list[tuple[Any, Any, Any]]) -> None:
    base = labelled(["a"] * len(rows), ["a"] * len(rows))
    items = [
        replace(
            item,
            outputs={"predict": {"datatype": "FP64", "shape": [1], "data": [cell]}},
            label=label,
            value=value,
        )
        for item, (cell, label, value) in zip(base, rows, strict=True)
    ]

    report = performance(items)

    json.dumps(report.to_json(), allow_nan=False)
    if report.overall.accuracy is not None:
        assert 0.0 <= report.overall.accuracy <= 1.0
