"""Session-wide data and the flavor catalog for the runtime tests (deterministic seeds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression

from berth.runtime.flavors.catalog import FlavorCatalog

Data = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]


@pytest.fixture(scope="session")
def catalog() -> FlavorCatalog:
    return FlavorCatalog()


@pytest.fixture(scope="session")
def multiclass_data() -> Data:
    x, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3, random_state=0)
    return x, y


@pytest.fixture(scope="session")
def binary_data() -> Data:
    x, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=1)
    return x, y


@pytest.fixture(scope="session")
def regression_data() -> Data:
    x, y = make_regression(n_samples=200, n_features=4, noise=0.1, random_state=2)
    return x, y


@pytest.fixture(scope="session")
def customers() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """A small table with a string column and string labels."""
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame(
        {
            "city": rng.choice(["paris", "lyon", "nice"], size=n),
            "age": rng.integers(18, 80, size=n).astype(np.float64),
            "spend": rng.normal(100, 20, size=n),
        }
    )
    churn = np.where((frame["age"] > 50) | (frame["city"] == "nice"), "churn", "stay")
    return frame, churn.astype(object)


@pytest.fixture(scope="session")
def reviews() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Short texts (a 1-D object array) and their sentiment labels."""
    good = ["great product", "really good", "love it", "works great", "good value", "very happy"]
    bad = ["terrible product", "really bad", "hate it", "broke fast", "bad value", "very sad"]
    texts = np.asarray((good + bad) * 5, dtype=object)
    labels = np.asarray((["pos"] * len(good) + ["neg"] * len(bad)) * 5, dtype=object)
    return texts, labels
