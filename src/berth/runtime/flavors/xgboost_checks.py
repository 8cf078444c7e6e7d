"""Read an XGBoost model file in Python, check it, and hand XGBoost only JSON written here.

XGBoost's own readers trust the file: a child index out of range or pointing back up the tree
crashes or hangs the process at the first prediction, and deeply nested JSON overflows its
parser's stack. So the file is first decoded here (JSON with `json`, UBJSON with `decode_ubjson`,
both bounded: declared counts must fit in the bytes that remain, nesting is limited), its trees
are checked (`check_model`: every node reached once from the root, children and features in
range, categorical segments inside their arrays, per-tree group indices within the outputs), and
XGBoost is given ``json.dumps`` of what was checked, so no byte it parses comes unchecked from the
file. Anything wrong is a ValueError (ARTIFACT_INVALID where the flavor converts it).
"""

from __future__ import annotations

import itertools
import json
import struct
from typing import Any

MAX_DEPTH = 64
_FIXED = {"i": ">b", "U": ">B", "I": ">h", "l": ">i", "L": ">q", "d": ">f", "D": ">d"}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise ValueError("the UBJSON data ends early or declares more than it holds")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def marker(self) -> str:
        return self.take(1).decode("latin-1")

    def fixed(self, marker: str) -> Any:
        code = _FIXED[marker]
        return struct.unpack(code, self.take(struct.calcsize(code)))[0]

    def length(self) -> int:
        marker = self.marker()
        if marker not in ("i", "U", "I", "l", "L"):
            raise ValueError(f"a UBJSON length has type {marker!r}")
        value = int(self.fixed(marker))
        if value < 0 or value > len(self.data) - self.at:
            raise ValueError("a UBJSON length is larger than the data left")
        return value


def _value(reader: _Reader, marker: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"the model nests deeper than {MAX_DEPTH}")
    if marker in _FIXED:
        return reader.fixed(marker)
    if marker in ("S", "H"):
        return reader.take(reader.length()).decode("utf-8")
    if marker == "C":
        return reader.take(1).decode("latin-1")
    simple = {"T": True, "F": False, "Z": None}
    if marker in simple:
        return simple[marker]
    if marker == "[":
        return _array(reader, depth)
    if marker == "{":
        return _object(reader, depth)
    raise ValueError(f"unknown UBJSON marker {marker!r}")


def _container(reader: _Reader) -> tuple[str | None, int | None]:
    """The optional ``$type`` and ``#count`` of an array or object."""
    kind = count = None
    start = reader.at
    marker = reader.marker()
    if marker == "$":
        kind = reader.marker()
        start = reader.at
        marker = reader.marker()
    if marker == "#":
        count = reader.length()
    else:
        reader.at = start
    if kind is not None and count is None:
        raise ValueError("a typed UBJSON container without a count")
    size = struct.calcsize(_FIXED[kind]) if kind in _FIXED else 1
    if count is not None and count * size > len(reader.data) - reader.at:
        raise ValueError("a UBJSON container declares more items than the data holds")
    return kind, count


def _array(reader: _Reader, depth: int) -> list[Any]:
    kind, count = _container(reader)
    if count is not None:
        return [_value(reader, kind or reader.marker(), depth + 1) for _ in range(count)]
    items = []
    while (marker := reader.marker()) != "]":
        items.append(_value(reader, marker, depth + 1))
    return items


def _object(reader: _Reader, depth: int) -> dict[str, Any]:
    kind, count = _container(reader)
    result: dict[str, Any] = {}
    if count is not None:
        for _ in range(count):
            key = reader.take(reader.length()).decode("utf-8")
            result[key] = _value(reader, kind or reader.marker(), depth + 1)
        return result
    while True:
        start = reader.at
        if reader.marker() == "}":
            return result
        reader.at = start
        key = reader.take(reader.length()).decode("utf-8")
        result[key] = _value(reader, reader.marker(), depth + 1)


def decode_ubjson(data: bytes) -> Any:
    """Decode UBJSON (the subset XGBoost writes), refusing counts larger than the data."""
    reader = _Reader(data)
    value = _value(reader, reader.marker(), 0)
    return value


def _depth_ok(value: Any) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"the model nests deeper than {MAX_DEPTH}")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list) and item and isinstance(item[0], dict | list):
            stack.extend((v, depth + 1) for v in item)


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not a number") from None


def _check_tree(tree: dict[str, Any], index: int, n_features: int) -> None:
    param = tree.get("tree_param", {})
    count = _int(param.get("num_nodes"), f"tree {index}'s num_nodes")
    if _int(param.get("size_leaf_vector", 1), "size_leaf_vector") > 1:
        raise ValueError("multi-target trees are not supported")
    arrays = ("left_children", "right_children", "split_indices", "split_conditions", "default_left")
    for key in arrays:
        if not isinstance(tree.get(key), list) or len(tree[key]) != count:
            raise ValueError(f"tree {index}'s {key} does not hold num_nodes entries")
    left, right, feature = tree["left_children"], tree["right_children"], tree["split_indices"]
    seen = [False] * count
    pending = [0] if count else []
    if count < 1:
        raise ValueError(f"tree {index} has no nodes")
    while pending:
        node = pending.pop()
        if seen[node]:
            raise ValueError(f"tree {index} has a node reached twice (a cycle?)")
        seen[node] = True
        if left[node] == -1 and right[node] == -1:
            continue
        if not all(isinstance(c, int) and 0 < c < count for c in (left[node], right[node])):
            raise ValueError(f"tree {index} points to nodes that do not exist")
        if not isinstance(feature[node], int) or not 0 <= feature[node] < max(n_features, 1):
            raise ValueError(f"tree {index} splits on a feature the model does not have")
        pending.extend((left[node], right[node]))
    _check_categories(tree, index, count)


def _check_categories(tree: dict[str, Any], index: int, count: int) -> None:
    nodes = tree.get("categories_nodes", [])
    segments = tree.get("categories_segments", [])
    sizes = tree.get("categories_sizes", [])
    categories = tree.get("categories", [])
    if not len(nodes) == len(segments) == len(sizes):
        raise ValueError(f"tree {index}'s categorical split arrays disagree")
    for node, start, size in zip(nodes, segments, sizes, strict=True):
        in_range = 0 <= _int(node, "a node") < count and _int(start, "a segment") >= 0
        if not in_range or _int(size, "a size") < 0:
            raise ValueError(f"tree {index} has a categorical split out of range")
        if int(start) + int(size) > len(categories):
            raise ValueError(f"tree {index}'s categorical split reads past its categories")


def _trees_of(booster: dict[str, Any]) -> dict[str, Any] | None:
    name = booster.get("name")
    if name == "gbtree":
        return booster.get("model")
    if name == "dart":
        inner = booster.get("gbtree", {})
        return inner.get("model") if isinstance(inner, dict) else None
    if name == "gblinear":
        return None
    raise ValueError(f"unknown booster {name!r}")


def check_model(model: Any) -> None:
    """Check a decoded XGBoost model's structure (ValueError when it would crash or hang XGBoost)."""
    _depth_ok(model)
    learner = model.get("learner") if isinstance(model, dict) else None
    if not isinstance(learner, dict):
        raise ValueError("it holds no 'learner'")
    params = learner.get("learner_model_param", {})
    n_features = _int(params.get("num_feature", 0), "num_feature")
    classes = _int(params.get("num_class", 0), "num_class")
    groups = max(classes, _int(params.get("num_target", 1), "num_target"), 1)
    booster = learner.get("gradient_booster")
    forest = _trees_of(booster) if isinstance(booster, dict) else None
    if forest is None:
        return
    trees = forest.get("trees", [])
    info = forest.get("tree_info", [])
    declared = _int(forest.get("gbtree_model_param", {}).get("num_trees", len(trees)), "num_trees")
    if not isinstance(trees, list) or len(info) != len(trees) or declared != len(trees):
        raise ValueError("its tree list, tree_info and num_trees disagree")
    if any(not 0 <= _int(g, "a tree group") < groups for g in info):
        raise ValueError("a tree writes to an output group that does not exist")
    indptr = forest.get("iteration_indptr")
    if indptr is not None and (
        not indptr
        or indptr[0] != 0
        or indptr[-1] != len(trees)
        or any(a > b for a, b in itertools.pairwise(indptr))
    ):
        raise ValueError("its iteration_indptr does not index its trees")
    for index, tree in enumerate(trees):
        if not isinstance(tree, dict):
            raise ValueError(f"tree {index} is not an object")
        _check_tree(tree, index, n_features)


def checked_json(data: bytes, fmt: str) -> bytes:
    """The model in `data` (``json`` or ``ubj``), decoded, checked and written back as JSON."""
    try:
        model = json.loads(data) if fmt == "json" else decode_ubjson(data)
    except RecursionError:
        raise ValueError("the model nests too deeply") from None
    check_model(model)
    return json.dumps(model).encode()
