"""Checks that run before a model library parses or walks a file (issue 12, item 1): fitted
trees, XGBoost's JSON/UBJSON, LightGBM's text. Each refuses a crafted file with ValueError or
ARTIFACT_INVALID and lets real models through unchanged."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.fitted_state import check_fitted_state
from berth.runtime.flavors.lightgbm_text import check_model_text
from berth.runtime.flavors.xgboost_checks import checked_json, decode_ubjson


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    x = np.random.default_rng(0).random((60, 4))
    return RandomForestClassifier(3, random_state=0).fit(x, (x[:, 0] > 0.5).astype(int))


def _edit_first_tree(model: Any, field: str, value: int) -> None:
    tree = model.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][0] = value
    state["nodes"] = nodes
    tree.__setstate__(state)


def test_a_real_forest_passes_and_its_trees_are_checked() -> None:
    check_fitted_state(_forest())


@pytest.mark.parametrize(("field", "value"), [("left_child", 10_000_000), ("left_child", 0), ("feature", 4)])
def test_a_forest_tree_pointing_outside_or_back_is_refused(field: str, value: int) -> None:
    model = _forest()
    _edit_first_tree(model, field, value)
    with pytest.raises(BerthError) as refused:
        check_fitted_state(model)
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID


def test_a_tree_no_estimator_checks_the_input_of_is_refused() -> None:
    with pytest.raises(BerthError):
        check_fitted_state({"loose": _forest().estimators_[0].tree_})


def _xgboost() -> tuple[Any, bytes]:
    import xgboost

    x = np.random.default_rng(0).random((50, 4))
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3}, xgboost.DMatrix(x, (x[:, 0] * 3).astype(int)), 2
    )
    return booster, bytes(booster.save_raw("ubj"))


def test_ubjson_decodes_to_the_model_xgboost_saved() -> None:
    import xgboost

    booster, ubj = _xgboost()
    assert decode_ubjson(ubj).keys() == json.loads(bytes(booster.save_raw("json"))).keys()
    rebuilt = xgboost.Booster()
    rebuilt.load_model(bytearray(checked_json(ubj, "ubj")))
    x = xgboost.DMatrix(np.random.default_rng(1).random((5, 4)))
    assert np.array_equal(rebuilt.predict(x), booster.predict(x))


@pytest.mark.parametrize(
    "data",
    [
        b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff",
        b"{L\x00\x00\x00\x00\x00\x00\x00\x07learnerSL\x7f\xff\xff\xff\xff\xff\xff\xff",
        b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner" + b"[" * 100,
        b"{",
    ],
)
def test_ubjson_declaring_more_than_it_holds_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"UBJSON|nests"):
        checked_json(data, "ubj")


@pytest.mark.parametrize(
    ("field", "value"), [("left_children", 99), ("left_children", 0), ("split_indices", 4), ("tree_info", 7)]
)
def test_an_xgboost_tree_out_of_range_is_refused(field: str, value: int) -> None:
    booster, _ = _xgboost()
    model = json.loads(bytes(booster.save_raw("json")))
    forest = model["learner"]["gradient_booster"]["model"]
    if field == "tree_info":
        forest["tree_info"][0] = value
    else:
        forest["trees"][0][field][0] = value
    with pytest.raises(ValueError, match=r"tree|group"):
        checked_json(json.dumps(model).encode(), "json")


def _lightgbm() -> str:
    import lightgbm

    x = np.random.default_rng(0).random((100, 4))
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4}
    return str(lightgbm.train(params, lightgbm.Dataset(x, (x[:, 0] > 0.5).astype(int)), 2).model_to_string())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("num_tree_per_iteration=1", "num_tree_per_iteration=0"),
        ("num_tree_per_iteration=1", "num_tree_per_iteration=100000000000"),
        ("num_class=1", "num_class=100000000000"),
        ("max_feature_idx=3", "max_feature_idx=-1"),
    ],
)
def test_lightgbm_header_counts_out_of_range_are_refused(old: str, new: str) -> None:
    text = _lightgbm()
    check_model_text(text)
    with pytest.raises(ValueError, match=r"num_class|num_tree_per_iteration|max_feature_idx"):
        check_model_text(text.replace(old, new))


def test_a_sparse_matrix_with_indices_outside_its_shape_is_refused() -> None:
    from scipy.sparse import csr_matrix

    good = csr_matrix(np.eye(3))
    check_fitted_state({"coef": good})
    bad = csr_matrix(np.eye(3))
    bad.indices[0] = 1_000_000
    with pytest.raises(BerthError) as refused:
        check_fitted_state({"coef": bad})
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID


def test_a_lightgbm_categorical_split_outside_its_categories_is_refused() -> None:
    import lightgbm

    rng = np.random.default_rng(0)
    x = np.c_[rng.integers(0, 6, 300), rng.random(300)]
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_per_group": 5, "cat_smooth": 1}
    data = lightgbm.Dataset(x, (x[:, 0] % 2 == 0).astype(int), categorical_feature=[0])
    text = str(lightgbm.train(params, data, 3).model_to_string())
    check_model_text(text)
    with pytest.raises(ValueError, match="categorical split"):
        check_model_text(text.replace("threshold=0 ", "threshold=1000000 ", 1))


def _sparse_model(tmp_path: Path) -> Path:
    import skops.io
    from sklearn.linear_model import SGDClassifier

    x = np.random.default_rng(0).random((60, 3))
    model = SGDClassifier(random_state=0).fit(x, (x[:, 0] > 0.5).astype(int)).sparsify()
    path = tmp_path / "sparse.skops"
    skops.io.dump(model, path)
    return path


def test_a_sparse_model_loads_untrusted(tmp_path: Path) -> None:
    from berth.runtime.flavors.sklearn import SklearnFlavor

    path = _sparse_model(tmp_path)
    packaged = SklearnFlavor().inspect_file(path, trusted=False)
    assert packaged.trusted is False


def test_a_zip_bomb_inside_a_sparse_matrix_is_refused(tmp_path: Path) -> None:
    import zipfile

    from berth.runtime.flavors.skops_trust import audit

    path = _sparse_model(tmp_path)
    bomb = tmp_path / "bomb.skops"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".npz"):
                inner = io.BytesIO()
                with zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_BZIP2) as npz:
                    npz.writestr("data.npy", bytes(64 * 1024 * 1024))
                data = inner.getvalue()
            target.writestr(info, data)
    with pytest.raises(BerthError) as refused:
        audit(bomb)
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID
