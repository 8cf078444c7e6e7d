"""scikit-learn classes known by their full names: checking a type this way imports nothing (the
ensemble module alone is a noticeable part of a server's start)."""

from __future__ import annotations

from typing import Any, Final

PIPELINE: Final = "sklearn.pipeline.Pipeline"


def full_name(kind: type) -> str:
    """``module.QualifiedName`` of a class."""
    return f"{kind.__module__}.{kind.__qualname__}"


def last_step(estimator: Any) -> tuple[tuple[Any, ...], Any]:
    """A pipeline's transforms (``passthrough`` and None steps left out) and its last step, as its
    ``predict`` and ``predict_proba`` run them; ``((), estimator)`` for anything else."""
    if full_name(type(estimator)) != PIPELINE:
        return (), estimator
    steps = getattr(estimator, "steps", None) or [("", None)]
    transforms = tuple(step for _, step in steps[:-1] if step is not None and not isinstance(step, str))
    return transforms, steps[-1][1]
