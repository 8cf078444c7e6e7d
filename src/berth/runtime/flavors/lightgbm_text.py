"""A structural check of LightGBM's text model format, done before LightGBM parses it.

LightGBM parses trees in parallel and a malformed tree (a truncated file, a missing field, an
array of the wrong length) aborts the whole process instead of raising. This check reads the
header and every tree block, and raises ValueError for what LightGBM would choke on: block sizes
that do not match ``tree_sizes``, missing fields, arrays of the wrong length, child or feature
indices out of range, a child that leads back up the tree (a prediction that never ends), and
header counts LightGBM divides by or allocates from (``num_class``, ``num_tree_per_iteration``).
"""

from __future__ import annotations

import itertools

HEADER = "tree"
END_OF_TREES = "end of trees"
_NODE_ARRAYS = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
_OPTIONAL_NODE_ARRAYS = ("split_gain", "internal_value", "internal_weight", "internal_count")
_OPTIONAL_LEAF_ARRAYS = ("leaf_weight", "leaf_count")
MAX_CLASSES = 100_000
MAX_FEATURES = 10_000_000


def looks_like_model(start: bytes) -> bool:
    """True when a file starts like a LightGBM text model (``tree`` then a ``version=`` line)."""
    return start.startswith(HEADER.encode()) and b"version=" in start


def _fields(block: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def _ints(fields: dict[str, str], key: str, count: int) -> list[int]:
    values = _values(fields, key, count)
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValueError(f"field {key!r} holds non-integers") from None


def _values(fields: dict[str, str], key: str, count: int) -> list[str]:
    if key not in fields:
        raise ValueError(f"a tree lacks its {key!r} field")
    values = fields[key].split()
    if len(values) != count:
        raise ValueError(f"field {key!r} has {len(values)} values, expected {count}")
    return values


def _check_tree(block: str, index: int, n_features: int) -> None:
    if not block.startswith(f"Tree={index}\n"):
        raise ValueError(f"tree {index} is not where tree_sizes puts it (truncated or edited?)")
    fields = _fields(block)
    num_leaves = _ints(fields, "num_leaves", 1)[0]
    num_cat = _ints(fields, "num_cat", 1)[0]
    if num_leaves < 1 or num_cat < 0:
        raise ValueError(f"tree {index} has {num_leaves} leaves and {num_cat} categorical splits")
    _values(fields, "leaf_value", num_leaves)
    for key in _OPTIONAL_LEAF_ARRAYS:
        if key in fields:
            _values(fields, key, num_leaves)
    if num_leaves == 1:
        return
    nodes = num_leaves - 1
    for key in _NODE_ARRAYS + tuple(k for k in _OPTIONAL_NODE_ARRAYS if k in fields):
        _values(fields, key, nodes)
    left, right = _ints(fields, "left_child", nodes), _ints(fields, "right_child", nodes)
    if any(not -num_leaves <= c < nodes for c in left + right):
        raise ValueError(f"tree {index} points to nodes that do not exist")
    _check_reachable(left, right, index)
    if any(not 0 <= f < n_features for f in _ints(fields, "split_feature", nodes)):
        raise ValueError(f"tree {index} splits on features that do not exist")
    if num_cat > 0:
        boundaries = _ints(fields, "cat_boundaries", num_cat + 1)
        if boundaries[0] != 0 or any(a > b for a, b in itertools.pairwise(boundaries)):
            raise ValueError(f"tree {index}'s cat_boundaries are not increasing from 0")
        _values(fields, "cat_threshold", boundaries[-1])
    _check_categorical_splits(fields, nodes, num_cat, index)


def _check_categorical_splits(fields: dict[str, str], nodes: int, num_cat: int, index: int) -> None:
    """A categorical split's threshold indexes ``cat_boundaries``: it must be one of the tree's."""
    kinds = _ints(fields, "decision_type", nodes)
    thresholds = _values(fields, "threshold", nodes)
    for kind, threshold in zip(kinds, thresholds, strict=True):
        if kind & 1:  # LightGBM's categorical-split bit
            try:
                position = int(float(threshold))
            except ValueError:
                raise ValueError(f"tree {index} has a categorical split without an index") from None
            if not 0 <= position < num_cat:
                raise ValueError(f"tree {index} has a categorical split outside its categories")


def _check_reachable(left: list[int], right: list[int], index: int) -> None:
    """Every split node is reached once from the root (node 0): no cycle, no shared child."""
    seen = [False] * len(left)
    pending = [0]
    while pending:
        node = pending.pop()
        if seen[node]:
            raise ValueError(f"tree {index} has a node reached twice (a cycle?)")
        seen[node] = True
        pending.extend(c for c in (left[node], right[node]) if c >= 0)


def _check_counts(header: dict[str, str], n_trees: int) -> int:
    """The number of input features, after checking the header's counts are sane."""
    counts = {key: int(header[key]) for key in ("num_class", "max_feature_idx", "num_tree_per_iteration")}
    if not 1 <= counts["num_class"] <= MAX_CLASSES:
        raise ValueError(f"its num_class ({counts['num_class']}) is out of range")
    if counts["num_tree_per_iteration"] not in (1, counts["num_class"]):
        raise ValueError("its num_tree_per_iteration is neither 1 nor num_class")
    if n_trees % counts["num_tree_per_iteration"]:
        raise ValueError("its tree count is not a whole number of iterations")
    if not 0 <= counts["max_feature_idx"] < MAX_FEATURES:
        raise ValueError(f"its max_feature_idx ({counts['max_feature_idx']}) is out of range")
    return counts["max_feature_idx"] + 1


def check_model_text(text: str) -> None:
    """Raise ValueError when `text` is not a well-formed LightGBM text model."""
    if not looks_like_model(text[:4096].encode()):
        raise ValueError("it does not start with a LightGBM 'tree' header")
    start = text.find("\nTree=0\n")
    end = text.find(f"\n{END_OF_TREES}")
    if start < 0 or end < start:
        raise ValueError("it holds no complete list of trees (truncated?)")
    header = _fields(text[:start])
    for key in ("num_class", "max_feature_idx", "num_tree_per_iteration"):
        if key not in header:
            raise ValueError(f"its header lacks {key!r}")
    sizes = [int(s) for s in header.get("tree_sizes", "").split()]
    if not sizes:
        raise ValueError("its header lacks 'tree_sizes'")
    n_features = _check_counts(header, len(sizes))
    position = start + 1
    for index, size in enumerate(sizes):
        _check_tree(text[position : position + size], index, n_features)
        position += size
    if position > end + 1:
        raise ValueError("its trees run past 'end of trees'")
