"""Feature views: named sets of features about an entity (a customer, an account), read by key.

A view has an owner team (its row in ``entity_tables``: views are entity tables with a definition,
`berth.core.access.ResourceKind.ENTITY_TABLE`), an entity key name, features with their dtypes, a
freshness limit (TTL), a source chosen by URI, a latency budget, and what a look-up does on a miss
and when its store cannot answer:

- source ``embedded:`` (the registry database's entity table of the same name, the default),
  ``redis://host:port/db`` (berth's layout: one JSON value per entity, see
  `berth.storage.redis_features`) or ``feast+http://host:port/FEAST_VIEW`` (Feast's feature server,
  ``POST /get-online-features``; FEAST_VIEW defaults to the view's name);
- ``on_miss``: ``null`` (the features are null: NaN / None), ``defaults`` (the view's `defaults`)
  or ``refuse`` (ENTITY_NOT_FOUND naming the first missing key); a value older than the TTL is a
  miss too;
- ``on_unavailable``: ``fail`` (FEATURES_UNAVAILABLE, a 503) or ``defaults`` (every row gets the
  defaults) when the store errs or misses the latency budget;
- ``offline`` (optional): where the view's history is, a Parquet file or folder named by a path
  relative to the berth home or an ``s3://`` URI (checked by the wiring,
  `berth.wiring.implementations.FEATURE_HISTORIES`), with the entity key, the event time
  (``timestamp_field``) and the features as columns: what the materialize job and the training
  sets' point-in-time join read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from berth.core.entities import check_model_name
from berth.core.errors import BerthError, ErrorCode

MAX_FEATURES: Final = 512
MAX_BUDGET_MS: Final = 60_000.0
DEFAULT_BUDGET_MS: Final = 50.0
DEFAULT_TIMESTAMP_FIELD: Final = "event_timestamp"
EMBEDDED: Final = "embedded:"
SOURCE_SCHEMES: Final = ("embedded", "redis", "feast+http", "feast+https")
_E = TypeVar("_E", bound=StrEnum)
_FEATURE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class Dtype(StrEnum):
    FLOAT64 = "float64"
    INT64 = "int64"
    STRING = "string"
    BOOL = "bool"

    def accepts(self, value: Any) -> bool:
        """Whether a JSON value (not null) is of this dtype (an integer is a float64 too)."""
        if self is Dtype.BOOL:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self is Dtype.STRING:
            return isinstance(value, str)
        if self is Dtype.INT64:
            return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        return isinstance(value, int | float) and math.isfinite(value)

    def coerce(self, value: Any) -> Any:
        """`value` as this dtype's Python value; INVALID_REQUEST when it is not one."""
        if value is None:
            return None
        if not self.accepts(value):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"{value!r:.60} is not a {self.value}")
        if self is Dtype.INT64:
            return int(value)
        if self is Dtype.FLOAT64:
            return float(value)
        return value


class OnMiss(StrEnum):
    NULL = "null"
    DEFAULTS = "defaults"
    REFUSE = "refuse"


class OnUnavailable(StrEnum):
    FAIL = "fail"
    DEFAULTS = "defaults"


def _invalid(problem: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, problem)


def check_view_name(name: str) -> str:
    """A view name follows the entity-table (model-name) rules."""
    try:
        return check_model_name(name)
    except BerthError:
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid feature view name {name!r:.140}: use letters, digits, '.', '_' and '-' (at most 128)",
        ) from None


def check_source(uri: str) -> str:
    """A source URI of a known scheme (the wiring builds the store; here only its shape)."""
    if not isinstance(uri, str) or not uri or len(uri) > 1024:
        raise _invalid("a feature view's source must be a URI such as embedded:, redis://host:6379/0")
    scheme = urlsplit(uri).scheme
    if scheme not in SOURCE_SCHEMES:
        raise _invalid(f"unknown feature source {uri!r:.200}: use one of {', '.join(SOURCE_SCHEMES)}")
    if scheme != "embedded" and not urlsplit(uri).hostname:
        raise _invalid(f"feature source {uri!r:.200} names no host")
    return uri


def check_offline(location: Any) -> str | None:
    """An offline history's location, by its shape only: text without control characters (whether
    it may be reached, and what it holds, is the wiring's check when the view is stored)."""
    if location is None:
        return None
    if (
        not isinstance(location, str)
        or not location
        or len(location) > 1024
        or any(ord(c) < 32 for c in location)
    ):
        raise BerthError(
            ErrorCode.INVALID_OFFLINE_SOURCE,
            "'offline' is a Parquet file or folder: a path relative to the berth home, or an s3:// URI",
        )
    return location


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureView:
    """What a view is: the definition the online look-ups and the writers follow."""

    name: str
    entity: str
    """The entity key's name (the request column a look-up reads by default, Feast's join key)."""
    features: Mapping[str, Dtype]
    source: str = EMBEDDED
    ttl_s: float | None = None
    """How old a value may be and still be served (None: any age)."""
    on_miss: OnMiss = OnMiss.NULL
    on_unavailable: OnUnavailable = OnUnavailable.FAIL
    defaults: Mapping[str, Any] = field(default_factory=dict)
    budget_ms: float = DEFAULT_BUDGET_MS
    description: str = ""
    offline: str | None = None
    """Where the view's history is (a Parquet file or folder: home-relative path or ``s3://``)."""
    timestamp_field: str = DEFAULT_TIMESTAMP_FIELD
    """The history's event-time column (a timestamp, or unix seconds)."""
    team: str = ""
    """The owner (set by the store; not part of the definition a caller sends)."""

    @property
    def scheme(self) -> str:
        return urlsplit(self.source).scheme

    def describe(self) -> dict[str, Any]:
        """The definition as JSON (what `parse` reads back), with the owner."""
        return {
            "name": self.name,
            "team": self.team,
            "entity": self.entity,
            "features": {k: v.value for k, v in self.features.items()},
            "source": self.source,
            "ttl_s": self.ttl_s,
            "on_miss": self.on_miss.value,
            "on_unavailable": self.on_unavailable.value,
            "defaults": dict(self.defaults),
            "budget_ms": self.budget_ms,
            "description": self.description,
            "offline": self.offline,
            "timestamp_field": self.timestamp_field,
        }

    def spec(self) -> dict[str, Any]:
        """The definition without name and owner (what the store keeps as JSON)."""
        described = self.describe()
        del described["name"], described["team"]
        return described

    def updated(self, changes: Mapping[str, Any]) -> FeatureView:
        """A copy with `changes` applied (the entity and the source do not change: the values
        stored under them would not follow)."""
        fixed = {"name", "team", "entity", "source"} & set(changes)
        if fixed:
            raise _invalid(f"a view's {sorted(fixed)} cannot change; create another view")
        return parse_view({**self.describe(), **changes}, name=self.name, team=self.team)

    def check_row(self, key: str, features: Any) -> dict[str, Any]:
        """One entity's features, checked against the dtypes; unknown features are refused."""
        if not isinstance(features, Mapping):
            raise _invalid(f"the features of {key!r:.80} must be an object")
        unknown = sorted(str(k) for k in features if k not in self.features)
        if unknown:
            raise _invalid(f"view {self.name!r} has no features {unknown[:5]} (entity {key!r:.80})")
        row: dict[str, Any] = {}
        for name, value in features.items():
            try:
                row[name] = self.features[name].coerce(value)
            except BerthError as exc:
                raise _invalid(f"feature {name!r} of {key!r:.80}: {exc.message}") from None
        return row

    def with_team(self, team: str) -> FeatureView:
        return replace(self, team=team)


_KEYS: Final = frozenset(
    {
        "name", "team", "entity", "features", "source", "ttl_s", "on_miss", "on_unavailable",
        "defaults", "budget_ms", "description", "offline", "timestamp_field",
    }
)  # fmt: skip


def parse_view(spec: Any, *, name: str | None = None, team: str = "") -> FeatureView:
    """The view a JSON definition describes; INVALID_REQUEST naming the first problem."""
    if not isinstance(spec, Mapping):
        raise _invalid("a feature view is an object with 'entity', 'features' and optionally 'source', ...")
    unknown = sorted(str(k) for k in spec if k not in _KEYS)
    if unknown:
        raise _invalid(f"unknown feature view keys {unknown}; a view takes {sorted(_KEYS - {'team'})}")
    name = check_view_name(name if name is not None else spec.get("name", ""))
    entity = spec.get("entity")
    if not isinstance(entity, str) or not _FEATURE_NAME.match(entity):
        raise _invalid("'entity' must name the entity key (letters, digits, '_', '.', '-'; at most 128)")
    features = _features(spec.get("features"))
    if entity in features:
        raise _invalid(f"the entity key {entity!r} cannot be a feature too")
    ttl = spec.get("ttl_s")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0):
        raise _invalid(f"'ttl_s' must be a positive number of seconds or null, got {ttl!r:.40}")
    budget = spec.get("budget_ms", DEFAULT_BUDGET_MS)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget <= MAX_BUDGET_MS:
        raise _invalid(f"'budget_ms' must be a number in (0, {MAX_BUDGET_MS:.0f}], got {budget!r:.40}")
    on_miss = _choice(OnMiss, "on_miss", spec.get("on_miss", OnMiss.NULL.value))
    on_unavailable = _choice(
        OnUnavailable, "on_unavailable", spec.get("on_unavailable", OnUnavailable.FAIL.value)
    )
    defaults = _defaults(spec.get("defaults") or {}, features)
    needs_defaults = on_miss is OnMiss.DEFAULTS or on_unavailable is OnUnavailable.DEFAULTS
    if needs_defaults and set(defaults) != set(features):
        missing = sorted(set(features) - set(defaults))
        raise _invalid(
            f"on_miss/on_unavailable 'defaults' needs a default for every feature; missing {missing}"
        )
    description = spec.get("description", "")
    if not isinstance(description, str) or len(description) > 4000:
        raise _invalid("'description' must be text of at most 4000 characters")
    timestamp_field = spec.get("timestamp_field") or DEFAULT_TIMESTAMP_FIELD
    if not isinstance(timestamp_field, str) or not _FEATURE_NAME.match(timestamp_field):
        raise _invalid("'timestamp_field' must name the history's event-time column")
    if timestamp_field == entity or timestamp_field in features:
        raise _invalid(f"'timestamp_field' {timestamp_field!r} cannot be the entity key or a feature")
    return FeatureView(
        name=name,
        entity=entity,
        features=features,
        source=check_source(spec.get("source", EMBEDDED)),
        ttl_s=None if ttl is None else float(ttl),
        on_miss=on_miss,
        on_unavailable=on_unavailable,
        defaults=defaults,
        budget_ms=float(budget),
        description=description,
        offline=check_offline(spec.get("offline")),
        timestamp_field=timestamp_field,
        team=team,
    )


def _features(value: Any) -> dict[str, Dtype]:
    if not isinstance(value, Mapping) or not value or len(value) > MAX_FEATURES:
        raise _invalid(f"'features' must map 1 to {MAX_FEATURES} feature names to dtypes")
    features: dict[str, Dtype] = {}
    for fname, dtype in value.items():
        if not isinstance(fname, str) or not _FEATURE_NAME.match(fname):
            raise _invalid(f"invalid feature name {fname!r:.140}")
        features[fname] = _choice(Dtype, f"the dtype of {fname!r}", dtype)
    return features


def _defaults(value: Any, features: Mapping[str, Dtype]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid("'defaults' must map feature names to values")
    out: dict[str, Any] = {}
    for fname, default in value.items():
        if fname not in features:
            raise _invalid(f"'defaults' names {fname!r:.140}, which is not a feature of the view")
        if default is None:
            raise _invalid(f"the default of {fname!r} must be a value (use on_miss 'null' for nulls)")
        try:
            out[fname] = features[fname].coerce(default)
        except BerthError as exc:
            raise _invalid(f"the default of {fname!r}: {exc.message}") from None
    return out


def _choice(kind: type[_E], what: str, value: Any) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise _invalid(f"{what} must be one of {allowed}, got {value!r:.40}") from None
