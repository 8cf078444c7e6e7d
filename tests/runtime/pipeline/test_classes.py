"""The threshold and top_k post-steps on classifier probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from berth.runtime.pipeline import Frame

from .helpers import fails, frame, invalid, post

PROBA = np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4]])
CLASSES = ["billing", "fraud", "other"]


def outputs(proba: np.ndarray[Any, Any] = PROBA) -> Frame:
    return Frame({"predict_proba": proba})


def threshold(**spec: object) -> list[dict[str, object]]:
    return [{"type": "threshold", "threshold": 0.5, "into": "flag", **spec}]


def test_threshold_defaults_to_the_last_class() -> None:
    result = post(threshold(), outputs())
    assert result["flag"].tolist() == [True, False, False]
    assert result["flag"].dtype == np.bool_


def test_threshold_by_label_and_by_index() -> None:
    assert post(threshold(**{"class": "billing"}), outputs(), classes=CLASSES)["flag"].tolist() == [
        False,
        True,
        False,
    ]
    assert post(threshold(class_index=0), outputs())["flag"].tolist() == [False, True, False]
    assert post(threshold(class_index=-2, threshold=0.3), outputs())["flag"].tolist() == [False, True, True]


def test_labels_match_by_their_string_form() -> None:
    result = post(threshold(**{"class": "1"}, threshold=0.4), outputs(), classes=[0, 1, 2])
    assert result["flag"].tolist() == [False, True, False]
    result = post(threshold(**{"class": 2}, threshold=0.4), outputs(), classes=[0.0, 1.0, 2.0])
    assert result["flag"].tolist() == [True, False, True]


def test_threshold_is_inclusive_and_nan_is_false() -> None:
    proba = np.array([[0.5, 0.5], [np.nan, np.nan]])
    assert post(threshold(), outputs(proba))["flag"].tolist() == [True, False]


def test_threshold_on_a_1d_score() -> None:
    result = post(threshold(column="score"), Frame({"score": np.array([0.2, 0.9])}))
    assert result["flag"].tolist() == [False, True]


def test_threshold_failures() -> None:
    fails(lambda: post(threshold(**{"class": "nope"}), outputs(), classes=CLASSES), "class 'nope' is not one")
    fails(lambda: post(threshold(**{"class": "fraud"}), outputs()), "no class labels", "use class_index")
    fails(lambda: post(threshold(class_index=3), outputs()), "class_index 3 is out of range for 3 classes")
    fails(
        lambda: post(threshold(**{"class": "a"}), outputs(), classes=["a", "b"]),
        "2 class labels for 3 scores",
    )
    fails(
        lambda: post(threshold(class_index=0, column="s"), Frame({"s": np.zeros(2)})), "needs [N, k] scores"
    )
    fails(lambda: post(threshold(), frame(predict_proba=["a"])), "not scores")
    fails(lambda: post(threshold(), frame(predict=["a"])), "post[0] (threshold)", "no column 'predict_proba'")


def test_threshold_spec_errors() -> None:
    invalid({"post": threshold(**{"class": "a"}, class_index=1)}, "not both")
    invalid({"post": threshold(**{"class": [1]})}, "'class' must be a string")
    invalid({"post": threshold(threshold="high")}, "'threshold' must be a finite number")
    invalid({"post": threshold(class_index=1.5)}, "'class_index' must be an integer")
    invalid({"post": [{"type": "threshold", "threshold": 0.5}]}, "missing key 'into'")


def top_k(k: int = 2) -> list[dict[str, object]]:
    return [{"type": "top_k", "k": k, "into": "top"}]


def test_top_k_labels_and_scores_best_first() -> None:
    result = post(top_k(), outputs(), classes=CLASSES)
    assert result["top_labels"].tolist() == [["other", "fraud"], ["billing", "fraud"], ["other", "billing"]]
    assert result["top_scores"].tolist() == [[0.7, 0.2], [0.5, 0.4], [0.4, 0.3]]
    assert result["top_labels"].dtype == object


def test_top_k_without_labels_gives_indices_and_ties_go_to_the_lower_index() -> None:
    result = post(top_k(3), outputs())
    assert result["top_labels"].tolist() == [[2, 1, 0], [0, 1, 2], [2, 0, 1]]


def test_k_larger_than_the_classes_gives_all_classes() -> None:
    result = post(top_k(10), outputs(), classes=CLASSES)
    assert result["top_labels"].shape == (3, 3)


def test_nan_scores_come_last() -> None:
    result = post(top_k(2), outputs(np.array([[np.nan, 0.2, 0.1]])))
    assert result["top_labels"].tolist() == [[1, 2]]


def test_top_k_failures() -> None:
    fails(lambda: post(top_k(), Frame({"predict_proba": np.zeros(3)})), "top_k needs [N, classes]")
    fails(lambda: post(top_k(), outputs(), classes=["a"]), "1 class labels for 3 scores")


@pytest.mark.parametrize("k", [0, -1, 1001])
def test_k_must_be_reasonable(k: int) -> None:
    invalid({"post": top_k(k)}, "'k' must be between 1 and 1000")
