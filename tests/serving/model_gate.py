"""The gate of `tests.serving.slow_model.GatedModel`, shared by the test and the model's packaged copy."""

from __future__ import annotations

import threading

GATE_OPEN = threading.Event()
GATE_OPEN.set()
WAITING_AT_GATE = threading.Event()
