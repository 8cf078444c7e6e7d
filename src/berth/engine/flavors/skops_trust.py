"""Which types inside a skops file berth trusts without being told.

skops refuses to build any type it does not trust; `skops.io.get_untrusted_types` lists the ones
a file needs beyond skops' own defaults. berth trusts those that come from modules that only hold
estimators and data (scikit-learn, numpy, scipy.sparse and a few builtin containers); anything
else (a custom class, a function from an arbitrary module) needs the pusher's explicit trust.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from berth.core.errors import BerthError, ErrorCode
from berth.engine.flavors.failures import artifact_invalid

SAFE_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
"""Modules whose types and functions are trusted in a skops file."""

SAFE_TYPES = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray",
                "int", "float", "complex", "bool", "slice", "NoneType",
            )
        ),
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
    }
)  # fmt: skip
"""Types trusted one by one (containers: nothing that runs code)."""


def is_safe_type(name: str) -> bool:
    """True for a type (``module.QualName``) berth trusts in a skops file without being told."""
    return name in SAFE_TYPES or name.startswith(SAFE_MODULE_PREFIXES)


def untrusted_types(path: Path) -> list[str]:
    """Every type the skops file at `path` needs beyond skops' defaults (read, not built)."""
    import skops.io

    with artifact_invalid(f"{path.name} is not a readable skops file"):
        return sorted(str(t) for t in skops.io.get_untrusted_types(file=path))


def unapproved(types: Iterable[str]) -> list[str]:
    """The types of `types` berth does not trust by itself."""
    return sorted(t for t in types if not is_safe_type(t))


def check_trust(path: Path, *, trusted: bool) -> tuple[list[str], list[str]]:
    """(every untrusted type, those that needed the pusher's trust) of a skops file; without
    `trusted`, refuse (UNTRUSTED_ARTIFACT) a file that needs types berth does not trust."""
    needed = untrusted_types(path)
    extra = unapproved(needed)
    if extra and not trusted:
        raise BerthError(
            ErrorCode.UNTRUSTED_ARTIFACT,
            f"{path.name} holds types berth does not trust by default: {', '.join(extra)}; "
            "push it with trusted=True if you trust them",
            types=extra,
        )
    return needed, extra
