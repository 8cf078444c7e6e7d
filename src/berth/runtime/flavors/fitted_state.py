"""Check the index arrays of a model that came from a file, before native code walks them.

scikit-learn's trees (``sklearn.tree._tree.Tree``: decision trees, random forests, extra trees,
gradient boosting) and histogram-gradient-boosting predictors (``TreePredictor``) walk their
node arrays in native code without bounds checks: a crafted child index crashes the process
(a segfault), a child pointing back to its parent loops forever, a feature index past the input
reads outside it. A file's trees pass only when every split node's children come after it and
inside the array (so every walk ends at a leaf) and every split reads a feature the estimator
validates inputs against (``n_features_in_``). Histogram trees with categorical splits (indices
into bitsets) are refused: they need a maintainer's trust. Trees held anywhere but by the
estimator that validates their input are refused too. scipy.sparse matrices get scipy's full
format check (indices inside the shape, sorted ``indptr``), which their constructors skip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berth.core.errors import BerthError, ErrorCode

_MAX_OBJECTS = 1_000_000


def _invalid(reason: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"the model's trees are malformed: {reason}")


def _check_links(left: Any, right: Any, split: Any, count: int, what: str) -> None:
    index = np.arange(count)
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    inside = (left > index) & (left < count) & (right > index) & (right < count)
    if count < 1 or not bool(np.all(inside[split])):
        raise _invalid(f"{what} has children outside the tree or before their parent")


def _check_features(feature: Any, split: Any, n_features: int, what: str) -> None:
    used = np.asarray(feature, dtype=np.int64)[split]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= n_features):
        raise _invalid(f"{what} splits on a feature the model does not take ({n_features} inputs)")


def check_tree(tree: Any, n_features: int) -> None:
    """Check one ``sklearn.tree._tree.Tree`` read from a file, for an input of `n_features` columns."""
    count = int(tree.node_count)
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    if left.shape != (count,) or right.shape != (count,):
        raise _invalid("a decision tree's arrays do not match its node count")
    split = ~((left == -1) & (right == -1))
    _check_links(left, right, split, count, "a decision tree")
    _check_features(tree.feature, split, min(n_features, int(tree.n_features)), "a decision tree")


def check_predictor(predictor: Any, n_features: int) -> None:
    """Check one histogram-gradient-boosting ``TreePredictor`` read from a file."""
    nodes = np.asarray(predictor.nodes)
    if nodes.ndim != 1 or nodes.dtype.names is None:
        raise _invalid("a histogram tree's nodes are not a node array")
    split = ~nodes["is_leaf"].astype(bool)
    if bool(np.any(nodes["is_categorical"].astype(bool) & split)):
        raise BerthError(
            ErrorCode.UNTRUSTED_ARTIFACT,
            "a histogram-gradient-boosting model with categorical splits needs a maintainer's trust",
        )
    _check_links(nodes["left"], nodes["right"], split, len(nodes), "a histogram tree")
    _check_features(nodes["feature_idx"], split, n_features, "a histogram tree")


def _children(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    if isinstance(obj, np.ndarray):
        return list(obj.ravel()) if obj.dtype == object else []
    state = getattr(obj, "__dict__", None)
    return list(state.values()) if isinstance(state, dict) else []


def _width(obj: Any) -> int | None:
    width = obj.__dict__.get("n_features_in_") if hasattr(obj, "__dict__") else None
    return int(width) if isinstance(width, int | np.integer) else None


def _narrowest(*widths: int | None) -> int | None:
    known = [w for w in widths if w is not None]
    return min(known) if known else None


def _check_sparse(matrix: Any) -> None:
    try:
        matrix.check_format(full_check=True)
    except (ValueError, TypeError) as exc:
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID, f"a sparse matrix in the model is malformed: {exc}"
        ) from exc


def check_fitted_state(root: Any) -> None:
    """Check every tree and sparse matrix in the object graph of a model loaded from a file
    (ARTIFACT_INVALID).

    A tree is checked against the input width of the estimator holding it and of every ensemble
    above it (a forest or a boosting model checks the input once, then hands it to its trees)."""
    import scipy.sparse as sp
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    checked: set[int] = set()
    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(root, None)]
    while stack:
        obj, ensemble_width = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        if len(seen) > _MAX_OBJECTS:
            raise _invalid("the model holds too many objects to check")
        if sp.issparse(obj):
            if hasattr(obj, "check_format"):
                _check_sparse(obj)
            continue
        if isinstance(obj, Tree | TreePredictor):
            if id(obj) not in checked:
                raise _invalid(f"a {type(obj).__name__} outside an estimator that checks its input")
            continue
        state = obj.__dict__ if hasattr(obj, "__dict__") and isinstance(obj.__dict__, dict) else {}
        width = _narrowest(_width(obj), ensemble_width)
        tree, predictors = state.get("tree_"), state.get("_predictors")
        if isinstance(tree, Tree) and width is not None:
            check_tree(tree, width)
            checked.add(id(tree))
        if isinstance(predictors, list) and width is not None:
            for predictor in (p for row in predictors if isinstance(row, list) for p in row):
                if isinstance(predictor, TreePredictor):
                    check_predictor(predictor, width)
                    checked.add(id(predictor))
        below = width if "estimators_" in state else ensemble_width
        stack.extend((child, below) for child in _children(obj))
