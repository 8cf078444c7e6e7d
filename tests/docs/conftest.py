"""Fixtures the doc tests share: a reader's environment, and a reader's folder with a fresh home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def reader_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A reader's environment: the project's virtual environment on PATH, no BERTH_* settings (and
    none of an enclosing ``make test``'s variables)."""
    for name in [n for n in os.environ if n.startswith("BERTH_")]:
        monkeypatch.delenv(name)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env['PATH']}"
    return env
