"""A corpus of hostile model files, built on the fly: each one that carries a payload tries to
create a marker folder, so a test proves no byte of it ran by checking the folder never appears.

Every builder takes the folder to write into and the marker path, and returns the file. The
skops payloads start from a real skops file and rewrite its ``schema.json`` the way an attacker
would (skops' reduce-style loaders call a named type with arguments from the file); the others
are the shapes that crash or hang a parser (ONNX external data, XGBoost and LightGBM trees whose
children point outside or back up the tree), and pyfunc archives that escape their folder.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Builder = Callable[[Path, Path], Path]


@dataclass(frozen=True)
class Hostile:
    """One hostile file: how to build it and the codes a refusal may carry."""

    name: str
    build: Builder
    codes: tuple[str, ...]


def _json(value: Any) -> dict[str, Any]:
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def _dict(**content: dict[str, Any]) -> dict[str, Any]:
    str_type = {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    key_types = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                 "content": [str_type for _ in content]}  # fmt: skip
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": content, "key_types": key_types}  # fmt: skip


def _mkdir_source(marker: Path) -> str:
    return f"import os; os.mkdir({str(marker)!r})"


def _skops_with_root(folder: Path, name: str, root: dict[str, Any]) -> Path:
    """A skops file (a real one's zip, with its ``schema.json`` root replaced by `root`)."""
    return _skops_with_schema(folder, name, lambda protocol: json.dumps({**root, "protocol": protocol}))


def _skops_with_schema(folder: Path, name: str, schema_text: Callable[[Any], str]) -> Path:
    """A skops file (a real one's zip, with the ``schema.json`` `schema_text` writes for its protocol)."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    real = folder / f"{name}-base.skops"
    skops.io.dump(LogisticRegression().fit(np.eye(2), [0, 1]), real)
    path = folder / f"{name}.skops"
    with zipfile.ZipFile(real) as source, zipfile.ZipFile(path, "w") as target:
        schema = json.loads(source.read("schema.json"))
        for info in source.infolist():
            if info.filename != "schema.json":
                target.writestr(info, source.read(info))
        target.writestr("schema.json", schema_text(schema["protocol"]))
    return path


def skops_constructor_runs_source(folder: Path, marker: Path) -> Path:
    """``ConstructorFromReduceNode``: calls a scikit-learn test helper that runs a source string."""
    root = {"__class__": "assert_run_python_script_without_output", "__module__": "sklearn.utils._testing",
            "__loader__": "ConstructorFromReduceNode",
            "content": _tuple(_json(_mkdir_source(marker)))}  # fmt: skip
    return _skops_with_root(folder, "ctor-source", root)


def skops_loss_node_runs_source(folder: Path, marker: Path) -> Path:
    """``LossNode``: its constructor is the node's own type, called with the file's arguments."""
    root = {"__class__": "assert_run_python_script_without_output", "__module__": "sklearn.utils._testing",
            "__loader__": "LossNode", "__reduce__": {"args": _tuple(_json(_mkdir_source(marker)))},
            "content": _dict()}  # fmt: skip
    return _skops_with_root(folder, "loss-source", root)


def skops_numpy_writes_file(folder: Path, marker: Path) -> Path:
    """``ConstructorFromReduceNode`` calling ``numpy.savetxt(marker, [[1]])``: a numpy function
    that writes where the file says."""
    array = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
             "content": [{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                          "content": [_json(1.0)]}]}  # fmt: skip
    root = {"__class__": "savetxt", "__module__": "numpy", "__loader__": "ConstructorFromReduceNode",
            "content": _tuple(_json(str(marker)), array)}  # fmt: skip
    return _skops_with_root(folder, "numpy-savetxt", root)


def skops_type_node_function(folder: Path, marker: Path) -> Path:
    """A ``FunctionTransformer`` whose function is a scikit-learn helper that runs code, reached
    through a ``TypeNode`` (which imports any name it is given)."""
    func = {"__class__": "assert_run_python_script_without_output", "__module__": "sklearn.utils._testing",
            "__loader__": "TypeNode"}  # fmt: skip
    root = {"__class__": "FunctionTransformer", "__module__": "sklearn.preprocessing._function_transformer",
            "__loader__": "ObjectNode", "content": _dict(func=func, kw_args=_dict())}  # fmt: skip
    return _skops_with_root(folder, "type-function", root)


def skops_deep_nesting(folder: Path, marker: Path) -> Path:
    """Lists nested 5,000 deep (recursion in every parser that follows them)."""
    opening = '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['

    def schema(protocol: Any) -> str:
        return (
            f'{{"protocol": {json.dumps(protocol)}, '
            + opening[1:]
            + opening * 5000
            + json.dumps(_json(1))
            + "]}" * 5001
        )

    return _skops_with_schema(folder, "deep", schema)


def skops_zip_bomb(folder: Path, marker: Path) -> Path:
    """A real model whose zip also holds 64 MB of zeros in a few hundred bytes (bzip2)."""
    path = skops_tree(folder, "bomb", lambda tree: None)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_BZIP2) as archive,
        archive.open("bomb.npy", "w") as member,
    ):
        zeros = bytes(16 * 1024 * 1024)
        for _ in range(4):
            member.write(zeros)
    return path


def skops_tree(folder: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A real decision tree saved with skops, its node array edited by `edit` (a crafted file)."""
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.random((60, 2))
    model = DecisionTreeClassifier(random_state=0).fit(x, (x[:, 0] > 0.5).astype(int))
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    fields = {key: nodes[key] for key in nodes.dtype.names or ()}
    edit(fields)
    state["nodes"] = nodes
    model.tree_.__setstate__(state)
    path = folder / f"{name}.skops"
    skops.io.dump(model, path)
    return path


def _root_children(node: int) -> Callable[[dict[str, Any]], None]:
    def edit(fields: dict[str, Any]) -> None:
        fields["left_child"][0] = fields["right_child"][0] = node

    return edit


def skops_tree_child_outside(folder: Path, marker: Path) -> Path:
    """A decision tree whose root's children are node 10,000,000 (a segfault when predicting)."""
    return skops_tree(folder, "tree-outside", _root_children(10_000_000))


def skops_tree_cycle(folder: Path, marker: Path) -> Path:
    """A decision tree whose root is its own child (a prediction that never ends)."""
    return skops_tree(folder, "tree-cycle", _root_children(0))


def _onnx_add(folder: Path, name: str, edit: Callable[[Any, Any], None]) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    weight = numpy_helper.from_array(np.ones((2,), np.float32), "w")
    node = helper.make_node("Add", ["x", "w"], ["y"])
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y], [weight]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    edit(model, weight)
    path = folder / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _external(location: str) -> Callable[[Any, Any], None]:
    def edit(model: Any, weight: Any) -> None:
        from onnx import TensorProto

        tensor = model.graph.initializer[0]
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "8")):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value

    return edit


def onnx_external_relative(folder: Path, marker: Path) -> Path:
    """An initializer read from ``../../../../etc/hostname`` (outside the artifact's folder)."""
    return _onnx_add(folder, "external-relative", _external("../../../../etc/hostname"))


def onnx_external_absolute(folder: Path, marker: Path) -> Path:
    """An initializer read from an absolute path."""
    return _onnx_add(folder, "external-absolute", _external("/etc/hostname"))


def onnx_custom_domain(folder: Path, marker: Path) -> Path:
    """An operator of a custom domain (it would need a library loaded into the server)."""

    def edit(model: Any, weight: Any) -> None:
        from onnx import helper

        model.graph.node[0].domain = "com.evil.ops"
        model.opset_import.append(helper.make_opsetid("com.evil.ops", 1))

    return _onnx_add(folder, "custom-domain", edit)


def _xgboost_json(edit: Callable[[dict[str, Any]], None]) -> bytes:
    import xgboost

    x = np.random.default_rng(0).random((50, 4))
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(x, (x[:, 0] > 0.5).astype(int)), 2
    )
    model = json.loads(bytes(booster.save_raw("json")))
    edit(model["learner"]["gradient_booster"]["model"]["trees"][0])
    return json.dumps(model).encode()


def xgboost_child_outside(folder: Path, marker: Path) -> Path:
    """An XGBoost tree whose root's left child does not exist (a segfault when predicting)."""
    path = folder / "child-outside.json"
    path.write_bytes(_xgboost_json(lambda tree: tree["left_children"].__setitem__(0, 1_000_000)))
    return path


def xgboost_cycle(folder: Path, marker: Path) -> Path:
    """An XGBoost tree whose root is its own child."""

    def edit(tree: dict[str, Any]) -> None:
        tree["left_children"][0] = tree["right_children"][0] = 0

    path = folder / "cycle.json"
    path.write_bytes(_xgboost_json(edit))
    return path


def xgboost_deep_json(folder: Path, marker: Path) -> Path:
    """JSON nested 200,000 deep (overflows XGBoost's recursive parser)."""
    path = folder / "deep.json"
    path.write_bytes(b'{"learner":' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    return path


def xgboost_ubjson_huge_count(folder: Path, marker: Path) -> Path:
    """UBJSON declaring an array of 2**63-1 doubles in a few bytes."""
    path = folder / "huge.ubj"
    path.write_bytes(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff")
    return path


def _lightgbm_text(edit: Callable[[str], str]) -> str:
    import lightgbm

    x = np.random.default_rng(0).random((100, 4))
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4}
    booster = lightgbm.train(params, lightgbm.Dataset(x, (x[:, 0] > 0.5).astype(int)), 2)
    return edit(booster.model_to_string())


def lightgbm_cycle(folder: Path, marker: Path) -> Path:
    """A LightGBM tree whose root is its own left child (a prediction that never ends)."""
    path = folder / "cycle.txt"
    path.write_text(_lightgbm_text(lambda text: re.sub(r"left_child=\S+", "left_child=0", text, count=1)))
    return path


def lightgbm_trees_per_iteration(folder: Path, marker: Path) -> Path:
    """``num_tree_per_iteration=0`` (LightGBM divides by it: SIGFPE)."""
    path = folder / "zero-trees.txt"
    path.write_text(
        _lightgbm_text(lambda text: text.replace("num_tree_per_iteration=1", "num_tree_per_iteration=0"))
    )
    return path


PYFUNC_MODEL = """
import os
os.mkdir({marker!r})


class Model:
    def load(self, path):
        pass

    def predict(self, inputs):
        return inputs
"""


def pyfunc_code(folder: Path, marker: Path) -> Path:
    """A pyfunc archive whose module creates the marker when imported."""
    path = folder / "code.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("berth_pyfunc.json", json.dumps({"entry": "model:Model"}))
        archive.writestr("model.py", PYFUNC_MODEL.format(marker=str(marker)))
    return path


class _MakesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.mkdir, (str(self.marker),))


def torch_save_pickle(folder: Path, marker: Path) -> Path:
    """What ``torch.save`` writes (a zip holding ``data.pkl``), its pickle creating the marker."""
    import pickle

    path = folder / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", pickle.dumps(_MakesMarker(marker)))
        archive.writestr("model/version", "3\n")
    return path


def _pyfunc_with(folder: Path, marker: Path, name: str, extra: Callable[[zipfile.ZipFile], None]) -> Path:
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("berth_pyfunc.json", json.dumps({"entry": "model:Model"}))
        archive.writestr("model.py", PYFUNC_MODEL.format(marker=str(marker)))
        extra(archive)
    return path


def pyfunc_traversal(folder: Path, marker: Path) -> Path:
    """A pyfunc archive with a member named ``../../escaped.py``."""
    return _pyfunc_with(folder, marker, "traversal", lambda a: a.writestr("../../escaped.py", "x = 1\n"))


def pyfunc_absolute(folder: Path, marker: Path) -> Path:
    """A pyfunc archive with an absolute member name."""
    return _pyfunc_with(folder, marker, "absolute", lambda a: a.writestr("/tmp/berth-absolute.py", "x = 1\n"))


def pyfunc_symlink(folder: Path, marker: Path) -> Path:
    """A pyfunc archive holding a symbolic link to ``/etc``."""

    def link(archive: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("etc")
        info.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(info, "/etc")

    return _pyfunc_with(folder, marker, "symlink", link)


def pyfunc_zip_bomb(folder: Path, marker: Path) -> Path:
    """A pyfunc archive with a member of 64 MB of zeros compressed a thousandfold."""

    def bomb(archive: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("weights.bin")
        info.compress_type = zipfile.ZIP_BZIP2
        with archive.open(info, "w") as member:
            zeros = bytes(16 * 1024 * 1024)
            for _ in range(4):
                member.write(zeros)

    return _pyfunc_with(folder, marker, "bomb", bomb)


UNTRUSTED = ("untrusted_artifact",)
INVALID = ("artifact_invalid",)
REFUSED = ("untrusted_artifact", "artifact_invalid")

CODE_PAYLOADS = (
    Hostile("skops-constructor-runs-source", skops_constructor_runs_source, UNTRUSTED),
    Hostile("skops-loss-node-runs-source", skops_loss_node_runs_source, UNTRUSTED),
    Hostile("skops-numpy-writes-file", skops_numpy_writes_file, UNTRUSTED),
    Hostile("skops-type-node-function", skops_type_node_function, UNTRUSTED),
    Hostile("pyfunc-code", pyfunc_code, UNTRUSTED),
    Hostile("torch-save-pickle", torch_save_pickle, UNTRUSTED),
)
"""Files whose loading would run the payload (refused without a maintainer's trust)."""

MALFORMED = (
    Hostile("skops-deep-nesting", skops_deep_nesting, INVALID),
    Hostile("skops-zip-bomb", skops_zip_bomb, INVALID),
    Hostile("skops-tree-child-outside", skops_tree_child_outside, INVALID),
    Hostile("skops-tree-cycle", skops_tree_cycle, INVALID),
    Hostile("onnx-external-relative", onnx_external_relative, INVALID),
    Hostile("onnx-external-absolute", onnx_external_absolute, INVALID),
    Hostile("onnx-custom-domain", onnx_custom_domain, INVALID),
    Hostile("xgboost-child-outside", xgboost_child_outside, INVALID),
    Hostile("xgboost-cycle", xgboost_cycle, INVALID),
    Hostile("xgboost-deep-json", xgboost_deep_json, INVALID),
    Hostile("xgboost-ubjson-huge-count", xgboost_ubjson_huge_count, INVALID),
    Hostile("lightgbm-cycle", lightgbm_cycle, INVALID),
    Hostile("lightgbm-zero-trees-per-iteration", lightgbm_trees_per_iteration, INVALID),
)
"""Files that crash, hang or escape a parser: refused even with a maintainer's trust."""

ESCAPING_ARCHIVES = (
    Hostile("pyfunc-traversal", pyfunc_traversal, INVALID),
    Hostile("pyfunc-absolute", pyfunc_absolute, INVALID),
    Hostile("pyfunc-symlink", pyfunc_symlink, INVALID),
    Hostile("pyfunc-zip-bomb", pyfunc_zip_bomb, INVALID),
)
"""pyfunc archives refused while unpacking, before any of their code could be imported."""
