"""A deliberately slow pyfunc model: every predict takes SECONDS, whatever the batch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

SECONDS = 0.6


class SlowModel:
    def load(self, path: Path) -> None:
        del path

    def predict(self, inputs: Any) -> Any:
        time.sleep(SECONDS)
        return np.asarray(inputs).sum(axis=1)
