"""The flavor catalog: discovery by entry points, look-up, and detection of objects and files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from berth.control.packaging import package_object
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.catalog import FlavorCatalog, check_flavor
from berth.runtime.flavors.pyfunc import PyfuncFlavor
from berth.runtime.flavors.sklearn import SklearnFlavor
from tests.runtime.fixtures.pyfunc_model import Echo

FLAVORS = ("lightgbm", "onnx", "pyfunc", "pytorch", "sklearn", "xgboost")
WITHOUT_EXTRAS = tuple(f for f in FLAVORS if f != "pytorch")
"""The flavors whose artifacts are made here; the torch extra's are in test_pytorch.py."""


@pytest.fixture(scope="module")
def artifacts(binary_data: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One saved artifact per flavor."""
    x, y = binary_data
    catalog = FlavorCatalog()
    objects = {
        "sklearn": LogisticRegression().fit(x, y),
        "onnx": to_onnx(LogisticRegression().fit(x, y), x[:1].astype(np.float32), target_opset=17),
        "xgboost": xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(x, y),
        "lightgbm": lgb.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(x, y),
        "pyfunc": Echo(),
    }
    return {
        name: package_object(catalog, obj, tmp_path_factory.mktemp(name)).path
        for name, obj in objects.items()
    }


def test_discovers_the_shipped_flavors(catalog: FlavorCatalog) -> None:
    assert catalog.names() == FLAVORS
    assert all(catalog.get(name).name == name for name in FLAVORS)


def test_each_catalog_has_its_own_instances() -> None:
    assert FlavorCatalog().get("sklearn") is not FlavorCatalog().get("sklearn")


def test_unknown_flavor(catalog: FlavorCatalog) -> None:
    with pytest.raises(BerthError) as unknown:
        catalog.get("torch")

    assert unknown.value.code is ErrorCode.UNSUPPORTED_FLAVOR
    assert "sklearn" in unknown.value.message


def test_explicit_flavors_and_duplicates() -> None:
    catalog = FlavorCatalog([SklearnFlavor(), PyfuncFlavor()])

    assert catalog.names() == ("pyfunc", "sklearn")
    with pytest.raises(BerthError) as duplicate:
        FlavorCatalog([SklearnFlavor(), SklearnFlavor()])
    assert duplicate.value.code is ErrorCode.CONFLICT


@pytest.mark.parametrize("name", WITHOUT_EXTRAS)
def test_each_flavor_declares_the_suffix_of_its_files(
    catalog: FlavorCatalog, artifacts: dict[str, Path], name: str
) -> None:
    assert artifacts[name].suffix in catalog.get(name).file_suffixes


def test_file_suffixes_are_every_flavors_longest_first(catalog: FlavorCatalog) -> None:
    suffixes = catalog.file_suffixes()

    assert set(suffixes) == {s for name in FLAVORS for s in catalog.get(name).file_suffixes}
    assert [len(s) for s in suffixes] == sorted((len(s) for s in suffixes), reverse=True)
    assert {".skops", ".joblib", ".pkl", ".onnx", ".ubj", ".json", ".txt", ".zip", ".pt", ".pt2"} <= set(
        suffixes
    )


class _Suffixes(SklearnFlavor):
    """The sklearn flavor, declaring other suffixes."""

    def __init__(self, suffixes: Any) -> None:
        self.file_suffixes = suffixes


@pytest.mark.parametrize(
    "suffixes", [("onnx",), (".ONNX",), [".onnx"], (".a/b",), (".onnx\n",), ("",), (".a.b.c",), None]
)
def test_a_flavor_must_declare_lower_case_suffixes(suffixes: Any) -> None:
    with pytest.raises(ValueError, match="file_suffixes"):
        check_flavor(_Suffixes(suffixes))
    with pytest.raises(ValueError, match="file_suffixes"):
        FlavorCatalog([_Suffixes(suffixes)])


def test_unknown_object(catalog: FlavorCatalog) -> None:
    with pytest.raises(BerthError) as unknown:
        catalog.for_object(object())

    assert unknown.value.code is ErrorCode.UNSUPPORTED_FLAVOR
    assert "pyfunc" in unknown.value.message


@pytest.mark.parametrize("name", WITHOUT_EXTRAS)
def test_each_artifact_is_recognised_by_exactly_its_flavor(
    catalog: FlavorCatalog, artifacts: dict[str, Path], name: str
) -> None:
    path = artifacts[name]

    matching = [flavor for flavor in FLAVORS if catalog.get(flavor).matches_file(path)]

    assert matching == [name]
    assert catalog.for_file(path).name == name


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("notes.txt", b"just some notes\n"),
        ("data.json", b'{"rows": [1, 2, 3]}'),
        ("archive.zip", b"PK\x03\x04not really a zip"),
        ("model.onnx", b"\xff\xfe not protobuf"),
        ("model.skops", b"not a zip"),
    ],
)
def test_unrecognised_files(catalog: FlavorCatalog, tmp_path: Path, filename: str, content: bytes) -> None:
    path = tmp_path / filename
    path.write_bytes(content)

    with pytest.raises(BerthError) as unknown:
        catalog.for_file(path)

    assert unknown.value.code is ErrorCode.UNSUPPORTED_FLAVOR
    assert "supported" in unknown.value.message


def test_missing_file(catalog: FlavorCatalog, tmp_path: Path) -> None:
    with pytest.raises(BerthError) as missing:
        catalog.for_file(tmp_path / "nope.onnx")

    assert missing.value.code is ErrorCode.ARTIFACT_INVALID
