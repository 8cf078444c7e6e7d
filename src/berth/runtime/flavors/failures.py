"""Turn a framework's exceptions into berth errors where they cross into berth.

Loaders wrap their work in `artifact_invalid` (a corrupt or truncated file is ARTIFACT_INVALID,
with the framework's reason) and runtimes wrap predictions in `prediction_failed`; a `BerthError`
raised inside either passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from berth.core.errors import BerthError, ErrorCode


def _reason(exc: BaseException) -> str:
    text = str(exc).split("Stack trace:")[0].strip() or type(exc).__name__  # XGBoost's C++ trace
    return text if len(text) <= 2000 else text[:2000] + "…"


@contextmanager
def artifact_invalid(what: str) -> Iterator[None]:
    """Raise ARTIFACT_INVALID naming `what` when the block fails with anything but a BerthError."""
    try:
        yield
    except BerthError:
        raise
    except Exception as exc:
        raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{what}: {_reason(exc)}") from exc


@contextmanager
def prediction_failed(flavor: str) -> Iterator[None]:
    """Raise PREDICTION_FAILED with the library's message when a prediction fails."""
    try:
        yield
    except BerthError:
        raise
    except Exception as exc:
        raise BerthError(ErrorCode.PREDICTION_FAILED, f"{flavor} prediction failed: {_reason(exc)}") from exc
