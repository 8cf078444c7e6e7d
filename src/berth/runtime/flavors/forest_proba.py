"""A random forest's probabilities without joblib's dispatch of each tree.

scikit-learn's ``ForestClassifier.predict_proba`` validates the input once and then hands each tree
to joblib (`sklearn.utils.parallel`), which sets up a configuration context and warning filters for
every task: for the peer benchmark's forest (100 trees of depth 10) about 4.2 ms a call, 1 row or
64, of which the trees' own work is a tenth. All of it holds the GIL, which the server's event loop
needs. Here the forest validates the input as it does itself (``_validate_X_predict``: dtype, the
fitted features, missing values), then each tree's ``tree_.predict`` gives its class fractions,
cut to its classes as ``DecisionTreeClassifier.predict_proba`` cuts them (what scikit-learn's
``_accumulate_prediction`` calls with ``check_input=False``, less a fitted check and a count of
features per tree), and the sum over the trees in their order is divided by their number: bit for
bit the answer of ``n_jobs=None`` or 1, with no thread pool; for a forest saved with ``n_jobs`` above
1 (whose own sum runs in the order its threads finish) it is the sum in the trees' order.
``predict`` is the most probable class, as the forest's own ``predict`` computes it. A pipeline
whose last step is such a forest runs its other steps' ``transform`` first, as its own
``predict_proba`` and ``predict`` do. tests/runtime/test_forest_proba.py checks both against
scikit-learn (the version pinned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from berth.runtime.flavors.labels import labels_from_proba
from berth.runtime.flavors.sklearn_types import full_name, last_step

FORESTS: Final = frozenset(
    {"sklearn.ensemble._forest.RandomForestClassifier", "sklearn.ensemble._forest.ExtraTreesClassifier"}
)
"""Exact types (a subclass may answer otherwise), by name so that checking imports nothing."""


@dataclass(frozen=True, slots=True)
class PlainForest:
    """A forest and the transforms a pipeline runs before it (none for a bare forest)."""

    forest: Any
    transforms: tuple[Any, ...] = ()

    def proba(self, data: Any) -> np.ndarray[Any, Any]:
        for step in self.transforms:
            data = step.transform(data)
        return forest_proba(self.forest, data)

    def labels(self, proba: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``predict``: the most probable class, as the forest's own ``predict`` takes it."""
        return labels_from_proba(proba, np.asarray(self.forest.classes_))


def plain_forest(estimator: Any) -> PlainForest | None:
    """The forest this estimator answers with (itself, or a pipeline's last step), else None."""
    transforms, last = last_step(estimator)
    return PlainForest(last, transforms) if is_plain_forest(last) else None


def is_plain_forest(estimator: Any) -> bool:
    """A forest classifier of one output, its trees fitted."""
    return (
        full_name(type(estimator)) in FORESTS
        and getattr(estimator, "n_outputs_", None) == 1
        and bool(getattr(estimator, "estimators_", None))
    )


def forest_proba(forest: Any, data: Any) -> np.ndarray[Any, Any]:
    """``forest.predict_proba(data)``, its trees called in turn."""
    x = forest._validate_X_predict(data)
    proba = np.zeros((x.shape[0], int(forest.n_classes_)), dtype=np.float64)
    for tree in forest.estimators_:
        proba += tree.tree_.predict(x)[:, : tree.n_classes_]
    proba /= len(forest.estimators_)
    return proba
