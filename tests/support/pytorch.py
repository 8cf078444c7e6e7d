"""torch for the PyTorch flavor's tests: an optional extra (``berth-serving[torch]``), so a test
without it is skipped by hand and fails under CI=true (`tests.support.unavailable`). Test modules import
torch, and `tests.support.torch_models`, only through the `torch` fixture."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import pytest

from tests.support.unavailable import unavailable


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    if importlib.util.find_spec("torch") is None:
        unavailable(
            "torch is not installed (pip install 'berth-serving[torch]')", must_run="the PyTorch flavor tests"
        )
    module = importlib.import_module("torch")
    module.manual_seed(0)
    return module
