"""Choosing a request's variant: weighted targets, a canary share, sticky keys.

Every request gets a number ``u`` in [0, 1): from its sticky key when it has one, else at random.
The canary, when there is one, answers ``u < canary share``; the rest of [0, 1) is split among the
stable targets in the order they are listed, in proportion to their weights.

Sticky keys are hashed with BLAKE2b (8 bytes) over ``endpoint name + NUL + key``: the same key on
the same endpoint maps to the same ``u`` in every process, on every replica and after restarts
(Python's ``hash`` is salted per process, so it is not used). A key keeps its variant as long as
the weights do not change; raising a canary's share only moves keys from the stable targets to
the canary (the keys below the old share stay on it), so a customer who saw the canary keeps it.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from berth.core.endpoints import TargetRef
from berth.core.entities import Version

_SCALE: Final = float(2**64)

STABLE: Final = "stable"
CANARY: Final = "canary"
SHADOW: Final = "shadow"


def sticky_fraction(endpoint: str, key: str) -> float:
    """The deterministic point in [0, 1) of `key` on `endpoint`."""
    digest = hashlib.blake2b(f"{endpoint}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True, slots=True)
class Variant:
    """One target of an endpoint, resolved to the version that serves it now."""

    name: str
    target: TargetRef
    version: Version
    role: str
    label: str = field(init=False)
    """The variant as statistics name it: ``model:version`` (computed once, read per request)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.version.model}:{self.version.number}")


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    """The variants of an endpoint and the share of the traffic each answers."""

    stable: tuple[Variant, ...]
    bounds: tuple[float, ...]
    canary: Variant | None = None
    canary_share: float = 0.0
    shadows: tuple[tuple[Variant, float], ...] = ()
    idle: tuple[Variant, ...] = ()

    @classmethod
    def build(
        cls,
        stable: Sequence[tuple[Variant, float]],
        canary: Variant | None = None,
        canary_percent: float = 0.0,
        shadows: Sequence[tuple[Variant, float]] = (),
    ) -> TrafficSplit:
        """`stable`: variants with relative weights (a positive sum); `canary_percent`: 0..100."""
        total = sum(w for _, w in stable)
        if total <= 0:
            raise ValueError("the stable weights must sum to a positive number")
        serving = [(v, w) for v, w in stable if w > 0]
        cumulative = list(itertools.accumulate(w / total for _, w in serving))
        cumulative[-1] = 1.0  # no gap at the top from rounding
        share = min(max(canary_percent, 0.0), 100.0) / 100.0 if canary is not None else 0.0
        idle = tuple(v for v, w in stable if w <= 0)
        return cls(tuple(v for v, _ in serving), tuple(cumulative), canary, share, tuple(shadows), idle)

    def choose(self, u: float) -> Variant:
        """The variant that answers the request at point `u` in [0, 1)."""
        if self.canary is not None and u < self.canary_share:
            return self.canary
        if self.canary_share > 0.0:
            u = (u - self.canary_share) / (1.0 - self.canary_share) if self.canary_share < 1.0 else 0.0
        index = bisect.bisect_right(self.bounds, u)
        return self.stable[min(index, len(self.stable) - 1)]

    def variants(self) -> list[Variant]:
        """Every variant: stable (also those at weight 0), canary, shadows."""
        found = [*self.stable, *self.idle]
        if self.canary is not None:
            found.append(self.canary)
        found.extend(v for v, _ in self.shadows)
        return found
