"""pyfunc models for `traffic_bench.py`: a slow one and a failing one, used as shadows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


class SlowModel:
    """Answers 0 for each row after 50 ms (a slow shadow)."""

    def load(self, path: Path) -> None:
        pass

    def predict(self, inputs: Any) -> Any:
        time.sleep(0.05)
        return np.zeros(len(inputs), dtype=np.int64)


class FailingModel:
    """Fails on every request (a broken shadow); pushed with an explicit signature."""

    def load(self, path: Path) -> None:
        pass

    def predict(self, inputs: Any) -> Any:
        raise RuntimeError("this shadow always fails")
