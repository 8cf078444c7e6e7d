"""What a step may use besides its frame: entity look-ups, custom steps, the request's context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import FeaturesServed
from berth.core.tracing import OFF, Tracing
from berth.runtime.pipeline.frame import Frame

if TYPE_CHECKING:  # pandas loads where a custom step runs, not where an endpoint is parsed
    import pandas as pd

CustomFunction: TypeAlias = "Callable[[pd.DataFrame], pd.DataFrame | Awaitable[pd.DataFrame]]"
"""A custom step: a DataFrame of the frame's 1-D columns in, a DataFrame with as many rows out.

It may be a coroutine function (a source that runs user code in an executor returns one)."""


class EntitySource(Protocol):
    """Features of entities by key (the registry's key -> features table; later a feature store)."""

    async def lookup(self, table: str, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        """Features of each key found in `table` (key -> feature name -> value); missing keys are absent."""
        ...


@dataclass(frozen=True, slots=True)
class FeatureLookup:
    """One view a `features` step reads: its name, the request's distinct keys, the features
    wanted (None: all of the view's)."""

    view: str
    keys: Sequence[str]
    features: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class FeatureAnswer:
    """A view's answer for every key asked: its values (the view's miss and unavailable policies
    applied: a key without values is null), and the features' dtypes (``float64``, ...).

    What was read, for the record: each key's `outcomes` (``hit``, ``miss``, ``stale``,
    ``unavailable``), the write time of the value found (`written_at`, unix seconds; absent when
    none was found or the store keeps none) and when the store answered (`read_at`)."""

    rows: Mapping[str, Mapping[str, Any] | None]
    dtypes: Mapping[str, str]
    outcomes: Mapping[str, str] = field(default_factory=dict)
    written_at: Mapping[str, float] = field(default_factory=dict)
    read_at: float | None = None


class FeatureSource(Protocol):
    """Feature views' values by key (`berth.runtime.features.OnlineFeatures`)."""

    async def lookup(self, lookups: Sequence[FeatureLookup]) -> list[FeatureAnswer]:
        """Every lookup of a request at once (one round trip per store); a refused miss is
        ENTITY_NOT_FOUND, a failing store of a ``fail`` view FEATURES_UNAVAILABLE."""
        ...


class CustomStepSource(Protocol):
    """Custom steps by reference (``"model:version"``): Python callables from pushed packages."""

    async def get(self, ref: str) -> CustomFunction:
        """The callable of `ref`; a missing one is a BerthError (e.g. MODEL_NOT_FOUND)."""
        ...


class InMemoryEntitySource:
    """Entities held in a dict: table -> key -> features. For tests and embedding."""

    def __init__(self, tables: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> None:
        self._tables = {name: dict(rows) for name, rows in (tables or {}).items()}
        self.calls = 0

    def put(self, table: str, key: str, features: Mapping[str, Any]) -> None:
        """Add or replace the features of `key` in `table`."""
        self._tables.setdefault(table, {})[key] = features

    async def lookup(self, table: str, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        self.calls += 1
        rows = self._tables.get(table, {})
        return {key: rows[key] for key in keys if key in rows}


class InMemoryCustomSteps:
    """Custom steps held in a dict: ref -> callable. For tests and embedding."""

    def __init__(self, functions: Mapping[str, CustomFunction] | None = None) -> None:
        self._functions = dict(functions or {})

    async def get(self, ref: str) -> CustomFunction:
        try:
            return self._functions[ref]
        except KeyError:
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"no custom step {ref!r}") from None


class _NoEntities:
    async def lookup(self, table: str, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        raise BerthError(ErrorCode.UNAVAILABLE, f"no entity source to look up table {table!r}")


class _NoFeatures:
    async def lookup(self, lookups: Sequence[FeatureLookup]) -> list[FeatureAnswer]:
        views = ", ".join(repr(x.view) for x in lookups)
        raise BerthError(ErrorCode.FEATURES_UNAVAILABLE, f"no feature source to look up {views}")


class _NoCustomSteps:
    async def get(self, ref: str) -> CustomFunction:
        raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"no custom step {ref!r} (no custom step source)")


@dataclass(frozen=True, slots=True)
class StepContext:
    """The context of one request through a pipeline.

    `inputs` (the pre-processed inputs) and `classes` (the class labels of the version that
    answered) are set for post-steps; `request_parameters` are the request's parameters.
    """

    entity_source: EntitySource = field(default_factory=_NoEntities)
    custom_steps: CustomStepSource = field(default_factory=_NoCustomSteps)
    inputs: Frame | None = None
    classes: Sequence[Any] | None = None
    request_parameters: Mapping[str, Any] = field(default_factory=dict)
    tracing: Tracing = OFF
    """Where each step's span goes (a child of the request's, when it is traced)."""
    features: FeatureSource = field(default_factory=_NoFeatures)
    served: FeaturesServed | None = None
    """Where ``features`` steps note what they read, per view and row, for the request's record
    (None: nobody keeps it)."""

    def for_post(self, inputs: Frame, classes: Sequence[Any] | None) -> StepContext:
        """This context for the post-steps of a request: its inputs and the answering version's labels."""
        return StepContext(
            self.entity_source,
            self.custom_steps,
            inputs,
            classes,
            self.request_parameters,
            self.tracing,
            self.features,
            self.served,
        )
