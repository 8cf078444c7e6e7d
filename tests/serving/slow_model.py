"""Deliberately slow pyfunc models: `SlowModel` takes SECONDS a predict, whatever the batch;
`GatedModel` holds each predict while a test keeps its gate shut."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.serving import model_gate

SECONDS = 0.6


class SlowModel:
    def load(self, path: Path) -> None:
        del path

    def predict(self, inputs: Any) -> Any:
        time.sleep(SECONDS)
        return np.asarray(inputs).sum(axis=1)


class GatedModel:
    """A pyfunc model that answers at once while `model_gate.GATE_OPEN` is set and, while it is
    clear, holds every predict until it is set again (`model_gate.WAITING_AT_GATE` tells a test
    that one is held). Served in the test's own process, so a test decides when it is busy: no
    wall-clock bound. The gate lives in a module of its own: berth imports this file's packaged
    copy under a name of its own, and that copy imports the one shared gate module."""

    def load(self, path: Path) -> None:
        del path

    def predict(self, inputs: Any) -> Any:
        if not model_gate.GATE_OPEN.is_set():
            model_gate.WAITING_AT_GATE.set()
            model_gate.GATE_OPEN.wait(timeout=120)
        return np.asarray(inputs).sum(axis=1)
