"""scikit-learn classes known by their full names: checking a type this way imports nothing (the
ensemble module alone is a noticeable part of a server's start)."""

from __future__ import annotations


def full_name(kind: type) -> str:
    """``module.QualifiedName`` of a class."""
    return f"{kind.__module__}.{kind.__qualname__}"
