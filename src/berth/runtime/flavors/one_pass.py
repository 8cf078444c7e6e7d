"""``predict`` and ``predict_proba`` of a scikit-learn classifier from one pass over the batch.

An answer that wants both outputs (a post-step reads the probabilities, the caller the labels)
would call the estimator twice: input validation, every transform of a pipeline (a sentence
encoder, TF-IDF) and the model, all done again. For the classifiers listed here scikit-learn's
``predict`` picks the class whose probability is highest: decision trees compute it that way,
and the linear models' and gradient boosting's ``predict`` takes the decision function's sign or
argmax while their ``predict_proba`` is a monotone map of that same function (``expit``,
``softmax``, a one-vs-rest normalisation, modified Huber's clip), which keeps the order of any two
classes but may round two different scores to the same probability. So the labels are read off
the probabilities wherever a row's highest probability is strictly above every other; a batch
with a row where it is not (a tie, or NaN) calls ``predict`` itself, and those rows take its
labels. The answer is the one two calls would give, bit for bit (tests/runtime/test_one_pass.py
checks it against scikit-learn on random models).

The list is of exact types: a subclass may override ``predict``. A pipeline qualifies when its last
step does (its ``predict`` and ``predict_proba`` run the same transforms before that step).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from berth.runtime.flavors.labels import labels_from_proba
from berth.runtime.flavors.sklearn_types import full_name, last_step

LABELS_FOLLOW_PROBA: Final = frozenset(
    {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._stochastic_gradient.SGDClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    }
)
"""By full name (`berth.runtime.flavors.sklearn_types`); tests/runtime/test_one_pass.py checks that
each name is the class scikit-learn exports."""


def labels_follow_proba(estimator: Any) -> bool:
    """Whether `predict_and_proba` may answer for this fitted estimator."""
    return full_name(type(last_step(estimator)[1])) in LABELS_FOLLOW_PROBA


def predict_and_proba(estimator: Any, data: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """``(predict(data), predict_proba(data))`` from one ``predict_proba`` call (plus one ``predict``
    where a row's top probability is tied); None where the probabilities are not one [N, k] array of
    the estimator's k classes (a multi-output model), so the caller asks for each output."""
    proba = np.asarray(estimator.predict_proba(data))
    classes = np.asarray(estimator.classes_)
    if proba.ndim != 2 or classes.ndim != 1 or proba.shape[1] != classes.shape[0]:
        return None
    top = proba.max(axis=1)
    unsure = np.count_nonzero(proba == top[:, None], axis=1) != 1  # a tie at the top, or NaN
    labels = labels_from_proba(proba, classes)
    if unsure.any():
        labels[unsure] = np.asarray(estimator.predict(data))[unsure]
    return labels, proba
