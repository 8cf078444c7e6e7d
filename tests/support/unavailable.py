"""The one rule for a test whose service or tool is missing: skipped with the reason where someone
runs the suite by hand, a failure under ``CI=true``, where every test must run."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(message: str, *, must_run: str) -> NoReturn:
    """Skip the calling test because of `message`; under CI=true fail it, naming what `must_run`."""
    if under_ci():
        pytest.fail(f"{message} (CI=true: {must_run} must run)")
    pytest.skip(message)
