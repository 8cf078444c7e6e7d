"""Labels and probabilities from one pass: the same answer as scikit-learn's two calls, bit for bit,
on random models, on ties, and through a pipeline whose transforms then run once."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from berth.runtime.flavors.one_pass import LABELS_FOLLOW_PROBA, labels_follow_proba, predict_and_proba
from berth.runtime.flavors.outputs import PREDICT, PREDICT_PROBA
from berth.runtime.flavors.sklearn_runtime import EstimatorRuntime

LISTED = [
    lambda seed: LogisticRegression(max_iter=200),
    lambda seed: SGDClassifier(loss="log_loss", random_state=seed),
    lambda seed: SGDClassifier(loss="modified_huber", random_state=seed),
    lambda seed: DecisionTreeClassifier(max_depth=3, random_state=seed),
    lambda seed: GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=seed),
    lambda seed: HistGradientBoostingClassifier(max_iter=5, random_state=seed),
    lambda seed: ExtraTreeClassifier(max_depth=3, random_state=seed),
]


def assert_identical(got: tuple[np.ndarray, np.ndarray] | None, model: Any, x: Any) -> None:
    assert got is not None
    labels, proba = got
    expected_labels, expected_proba = model.predict(x), model.predict_proba(x)
    assert labels.dtype == expected_labels.dtype
    assert labels.tolist() == expected_labels.tolist()
    np.testing.assert_array_equal(proba, expected_proba)


def test_each_listed_name_is_the_class_scikit_learn_exports() -> None:
    public = {
        "LogisticRegression": "sklearn.linear_model",
        "SGDClassifier": "sklearn.linear_model",
        "DecisionTreeClassifier": "sklearn.tree",
        "GradientBoostingClassifier": "sklearn.ensemble",
        "HistGradientBoostingClassifier": "sklearn.ensemble",
        "ExtraTreeClassifier": "sklearn.tree",
    }
    found = set()
    for name in LABELS_FOLLOW_PROBA:
        module, _, cls = name.rpartition(".")
        kind = getattr(importlib.import_module(module), cls)
        assert getattr(importlib.import_module(public[cls]), cls) is kind
        found.add(cls)
    assert found == set(public)


@settings(max_examples=40, deadline=None)
@given(
    which=st.integers(0, len(LISTED) - 1),
    classes=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    string_labels=st.booleans(),
)
def test_the_answer_is_scikit_learns_bit_for_bit(
    which: int, classes: int, seed: int, string_labels: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 4))
    y = rng.integers(0, classes, size=60)
    y[:classes] = np.arange(classes)  # every class seen
    labels = np.array([f"class-{v}" for v in y]) if string_labels else y
    model = LISTED[which](seed).fit(x, labels)
    queries = np.vstack([rng.normal(size=(40, 4)) * 3, np.zeros((2, 4))])
    assert labels_follow_proba(model)
    assert_identical(predict_and_proba(model, queries), model, queries)


def test_a_tie_at_the_top_takes_predicts_label() -> None:
    """Zero weights: every probability is the same, so the labels come from `predict` itself
    (which takes the decision's sign: for a score of exactly 0 the first class, but a tie of
    rounded probabilities can also hide a score just above 0)."""
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), ["no", "yes"])
    model.coef_[:] = 0.0
    model.intercept_[:] = 1e-17  # expit rounds it to exactly 0.5; predict says "yes"
    x = np.array([[0.0], [5.0]])
    assert model.predict_proba(x)[0].tolist() == [0.5, 0.5]
    assert_identical(predict_and_proba(model, x), model, x)
    assert predict_and_proba(model, x)[0].tolist() == ["yes", "yes"]  # type: ignore[index]


def test_a_tree_leaf_split_evenly_takes_predicts_label() -> None:
    model = DecisionTreeClassifier(random_state=0).fit(np.array([[0.0], [0.0], [1.0]]), ["a", "b", "b"])
    x = np.array([[0.0], [1.0]])
    assert model.predict_proba(x)[0].tolist() == [0.5, 0.5]
    assert_identical(predict_and_proba(model, x), model, x)


class Special(LogisticRegression):  # type: ignore[misc]
    """A subclass may answer `predict` as it likes."""

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)


def test_only_the_listed_classes_and_pipelines_ending_in_one_qualify() -> None:
    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 1, 0, 1]
    assert labels_follow_proba(make_pipeline(FunctionTransformer(), LogisticRegression()).fit(x, y))
    assert not labels_follow_proba(Special().fit(x, y))
    assert not labels_follow_proba(SVC(probability=True))  # Platt scaling can disagree with predict
    assert not labels_follow_proba(make_pipeline(FunctionTransformer(), SVC(probability=True)))


def test_the_runtime_runs_a_pipelines_transforms_once_for_both_outputs() -> None:
    passes: list[int] = []

    def scaled(frame: pd.DataFrame) -> pd.DataFrame:
        passes.append(len(frame))
        return frame * 2.0

    rng = np.random.default_rng(3)
    train = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    model = make_pipeline(FunctionTransformer(scaled), LogisticRegression()).fit(
        train, np.where(train["a"] > 0, "up", "down")
    )
    runtime = EstimatorRuntime(model)
    inputs = {"a": np.array([0.5, -2.0, 1.0]), "b": np.array([0.0, 1.0, 2.0])}

    passes.clear()
    answer = runtime.predict(inputs, [PREDICT_PROBA, PREDICT])
    assert passes == [3]
    assert list(answer) == [PREDICT_PROBA, PREDICT]
    frame = pd.DataFrame(inputs)
    assert answer[PREDICT].tolist() == model.predict(frame).tolist()
    assert answer[PREDICT].dtype == object  # labels as an object array, as from two calls
    np.testing.assert_array_equal(answer[PREDICT_PROBA], model.predict_proba(frame))

    passes.clear()
    runtime.predict(inputs, [PREDICT])
    assert passes == [3]


@pytest.mark.parametrize("outputs", [[PREDICT, PREDICT_PROBA], [PREDICT], [PREDICT_PROBA]])
def test_an_unlisted_classifier_is_still_asked_for_each_output(outputs: list[str]) -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    model = Special().fit(x, [0, 1, 0, 1, 0, 1])
    answer = EstimatorRuntime(model).predict(x, outputs)
    if PREDICT in outputs:
        assert answer[PREDICT].tolist() == [0] * 6  # its own predict, not the probabilities' argmax
    assert list(answer) == outputs
