"""A forest's trees called in turn: scikit-learn's probabilities and labels bit for bit, through the
runtime as well; its input checks and errors stay scikit-learn's."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from berth.core.errors import BerthError
from berth.runtime.flavors.forest_proba import PlainForest, forest_proba, is_plain_forest, plain_forest
from berth.runtime.flavors.outputs import PREDICT, PREDICT_PROBA
from berth.runtime.flavors.sklearn_runtime import EstimatorRuntime


class Voting(RandomForestClassifier):  # type: ignore[misc]
    """A subclass may answer as it likes."""


@settings(max_examples=30, deadline=None)
@given(
    extra=st.booleans(),
    classes=st.integers(2, 4),
    seed=st.integers(0, 2**16),
    rows=st.integers(1, 70),
    missing=st.booleans(),
)
def test_probabilities_and_labels_are_scikit_learns_bit_for_bit(
    extra: bool, classes: int, seed: int, rows: int, missing: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 5))
    y = np.array([f"c{v}" for v in rng.integers(0, classes, size=80)])
    kind = ExtraTreesClassifier if extra else RandomForestClassifier
    if missing and not extra:
        x[rng.random(size=x.shape) < 0.1] = np.nan  # forests learn where missing values go
    forest = kind(n_estimators=7, max_depth=4, random_state=seed).fit(x, y)
    queries = rng.normal(size=(rows, 5)) * 2
    if missing and not extra:
        queries[rng.random(size=queries.shape) < 0.2] = np.nan
    assert is_plain_forest(forest)
    proba = forest_proba(forest, queries)
    np.testing.assert_array_equal(proba, forest.predict_proba(queries))
    labels = PlainForest(forest).labels(proba)
    assert labels.dtype == forest.predict(queries).dtype
    assert labels.tolist() == forest.predict(queries).tolist()


def test_the_runtime_answers_each_output_as_the_forest_does() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, np.where(frame["a"] > 0, 1, 0))
    runtime = EstimatorRuntime(forest)
    inputs = {"a": np.array([0.3, -1.0]), "b": np.array([2.0, 0.0])}
    query = pd.DataFrame(inputs)
    for outputs in ([PREDICT], [PREDICT_PROBA], [PREDICT_PROBA, PREDICT], []):
        answer = runtime.predict(inputs, outputs)
        assert list(answer) == (outputs or [PREDICT])
        if PREDICT in answer:
            assert answer[PREDICT].tolist() == forest.predict(query).tolist()
        if PREDICT_PROBA in answer:
            np.testing.assert_array_equal(answer[PREDICT_PROBA], forest.predict_proba(query))


def test_bad_input_is_refused_as_scikit_learn_refuses_it() -> None:
    x = np.arange(20.0).reshape(10, 2)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, [0, 1] * 5)
    with pytest.raises(ValueError, match="features") as ours:
        forest_proba(forest, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="features") as theirs:
        forest.predict_proba(np.zeros((1, 3)))
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(BerthError):
        EstimatorRuntime(forest).predict(np.zeros((1, 3)), [PREDICT])


def test_only_fitted_single_output_forest_classifiers_of_the_listed_types() -> None:
    x = np.arange(20.0).reshape(10, 2)
    assert not is_plain_forest(RandomForestClassifier())  # not fitted
    assert not is_plain_forest(Voting(n_estimators=2).fit(x, [0, 1] * 5))
    assert not is_plain_forest(RandomForestRegressor(n_estimators=2).fit(x, range(10)))
    two_outputs = np.column_stack([[0, 1] * 5, [1, 1, 0, 0, 1] * 2])
    assert not is_plain_forest(RandomForestClassifier(n_estimators=2).fit(x, two_outputs))


def test_a_pipeline_ending_in_a_forest_transforms_then_asks_the_trees() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"plan": rng.choice(["basic", "plus", "pro"], size=90), "spend": rng.normal(50, 20, size=90)}
    )
    labels = np.where((frame["spend"] > 55) | (frame["plan"] == "pro"), "stay", "churn")
    model = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                        ("num", StandardScaler(), ["spend"]),
                    ]
                ),
            ),
            ("nothing", "passthrough"),
            ("forest", RandomForestClassifier(n_estimators=6, random_state=0)),
        ]
    ).fit(frame, labels)
    found = plain_forest(model)
    assert found is not None
    assert found.forest is model.steps[-1][1]
    assert len(found.transforms) == 1
    query = pd.DataFrame({"plan": ["pro", "basic", "gold"], "spend": [10.0, 60.0, 50.0]})
    answer = EstimatorRuntime(model).predict(dict(query.items()), [PREDICT, PREDICT_PROBA])
    assert answer[PREDICT].tolist() == model.predict(query).tolist()
    np.testing.assert_array_equal(answer[PREDICT_PROBA], model.predict_proba(query))
    assert plain_forest(Pipeline([("scale", StandardScaler()), ("voting", Voting())])) is None


def test_an_unloaded_runtime_holds_no_forest() -> None:
    x = np.arange(20.0).reshape(10, 2)
    runtime = EstimatorRuntime(RandomForestClassifier(n_estimators=2, random_state=0).fit(x, [0, 1] * 5))
    held = weakref.ref(runtime._forest.forest)  # type: ignore[union-attr]
    runtime.unload()
    gc.collect()
    assert held() is None
