"""pyfunc models with a behaviour the endpoint tests need: failing, slow, and a custom step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class Failing:
    """Refuses every input (a broken canary or shadow)."""

    def load(self, path: Path) -> None:
        pass

    def predict(self, inputs: Any) -> Any:
        raise RuntimeError("this model always fails")


class Slow:
    """Answers 0 for each row after `delay_s` seconds (a slow canary or shadow)."""

    def __init__(self, delay_s: float = 0.2) -> None:
        self.delay_s = delay_s

    def load(self, path: Path) -> None:
        pass

    def predict(self, inputs: Any) -> Any:
        time.sleep(self.delay_s)
        return np.zeros(len(inputs), dtype=np.int64)


class UpperPlan:
    """A custom step: lower-cases the ``plan`` column and adds ``plan_length``."""

    def load(self, path: Path) -> None:
        pass

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["plan"] = out["plan"].str.lower()
        out["plan_length"] = out["plan"].str.len().astype("int64")
        return out

    def predict(self, frame: pd.DataFrame) -> Any:
        """What a push probes with its input example (serving uses `transform`)."""
        return np.zeros(len(frame), dtype=np.int64)
