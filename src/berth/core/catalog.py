"""The catalog's vocabulary: a model's task, the text search reads, and what a search asks.

**Task** (``models.task``, a catalog filter) is derived at every push from the newest version's
signature, unless the model's tags name one (``task=forecasting``):

- ``text``: every input is a string tensor (BYTES), whatever the model answers;
- ``classification``: an output of probabilities (a name with ``proba``/``probabilit``), or of
  labels (``label``, ``class`` …), or a ``predict`` output of integers, booleans or strings;
- ``regression``: otherwise, one floating-point output (``predict``, ``prediction``, ``score`` …);
- ``''`` (unknown) for everything else (several float outputs, a transformer's ``transform``).

**Search text** (``models.search_text``) is the lower-cased text a catalog search matches every
query word against: the model's name, description, contact, tags (keys and values), task, and
the newest version's flavor, metric names and model card. The registry rewrites it in the
transaction of every change that touches one of those (create, update, push, metadata update).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode
from berth.core.model_cards import SECTIONS, Completeness, completeness
from berth.core.signature import Signature

TASKS: Final = ("classification", "regression", "text")
"""The tasks berth derives; a model's ``task`` tag may name any other (at most 32 characters)."""
MAX_QUERY_WORDS: Final = 8
MAX_QUERY_CHARS: Final = 200

_LABEL_NAMES: Final = frozenset({"label", "labels", "class", "classes", "predicted_label", "category"})
_DISCRETE: Final = frozenset({"BOOL", "BYTES", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16"})
_FLOATS: Final = frozenset({"FP16", "FP32", "FP64", "BF16"})


def derive_task(signature: Signature | None, tags: Mapping[str, str] | None = None) -> str:
    """The task of a model whose newest version has `signature` (see the module docstring)."""
    named = (tags or {}).get("task", "").strip().lower()
    if named:
        return named[:32]
    if signature is None:
        return ""
    inputs, outputs = signature.inputs, signature.outputs
    if inputs and all(spec.datatype == "BYTES" for spec in inputs):
        return "text"
    for spec in outputs:
        name = spec.name.lower()
        if "proba" in name or "probabilit" in name or name in _LABEL_NAMES:
            return "classification"
        if name == "predict" and spec.datatype in _DISCRETE:
            return "classification"
    if len(outputs) == 1 and outputs[0].datatype in _FLOATS:
        return "regression"
    return ""


def search_text(
    *,
    name: str,
    description: str = "",
    contact: str = "",
    tags: Mapping[str, str] | None = None,
    task: str = "",
    flavor: str = "",
    metric_names: Iterable[str] = (),
    card: Mapping[str, str] | None = None,
) -> str:
    """The lower-cased text a catalog search reads for one model."""
    parts = [name, description, contact, task, flavor]
    parts += [f"{k} {v}" for k, v in sorted((tags or {}).items())]
    parts += sorted(metric_names)
    parts += [text for text in (card or {}).values()]
    return "\n".join(p for p in parts if p).lower()


def query_words(text: str | None) -> tuple[str, ...]:
    """The words of a search query (lower-cased, each must match); INVALID_REQUEST when too long."""
    if not text:
        return ()
    if len(text) > MAX_QUERY_CHARS:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"a search is at most {MAX_QUERY_CHARS} characters")
    words = tuple(dict.fromkeys(text.lower().split()))
    if len(words) > MAX_QUERY_WORDS:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"a search has at most {MAX_QUERY_WORDS} words")
    return words


class CatalogSort:
    NAME: Final = "name"
    RECENT: Final = "recent"
    """Newest change first (a push, an update)."""
    USAGE: Final = "usage"
    """Most calls over the last `USAGE_DAYS` days first."""
    ALL: Final = (NAME, RECENT, USAGE)


USAGE_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class CatalogQuery:
    """What a catalog search asks: every filter given must hold."""

    text: str | None = None
    team: str | None = None
    flavor: str | None = None
    task: str | None = None
    visibility: str | None = None
    kind: str | None = None
    """``model`` or ``endpoint`` (None: both)."""
    sort: str = CatalogSort.NAME
    limit: int = 50
    cursor: str | None = None

    def checked(self) -> CatalogQuery:
        if self.sort not in CatalogSort.ALL:
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"unknown sort {self.sort!r}: use one of {', '.join(CatalogSort.ALL)}",
            )
        if self.kind not in (None, "model", "endpoint"):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"unknown kind {self.kind!r}: use model or endpoint")
        if not 1 <= self.limit <= 500:
            raise BerthError(ErrorCode.INVALID_REQUEST, "limit must be between 1 and 500")
        query_words(self.text)
        return self


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose catalog a search lists: every entry of `teams` (those the principal may read), the
    names it was granted, and every discoverable entry. `everything`: a platform administrator, or
    the holder of the database (``--home``)."""

    teams: frozenset[str] = frozenset()
    granted: frozenset[str] = frozenset()
    everything: bool = False


# -- what a catalog answers: only what a consumer needs to decide ---------------------------------
# Every field below is copied by name (a whitelist): artifacts (URIs, sha256, file names), records,
# training data paths, feature values, parameters, feature importances, free-form docs, who pushed
# and from where are never part of a catalog entry, whoever asks.


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One model or endpoint in a catalog listing."""

    kind: str
    """model or endpoint."""
    name: str
    team: str
    description: str
    visibility: str
    updated_at: datetime
    contact: str = ""
    task: str = ""
    flavor: str = ""
    """The newest version's flavor (a model)."""
    tags: dict[str, str] = field(default_factory=dict)
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)
    calls_30d: int = 0
    card: Completeness | None = None
    """The newest version's card completeness (a model)."""
    targets: tuple[dict[str, Any], ...] = ()
    """An endpoint's targets: {"target": "model@alias", "weight": 90}."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "team": self.team,
            "description": self.description,
            "contact": self.contact,
            "visibility": self.visibility,
            "updated_at": self.updated_at.isoformat(),
            "calls_30d": self.calls_30d,
        }
        if self.kind == "model":
            body |= {
                "task": self.task,
                "flavor": self.flavor,
                "tags": dict(self.tags),
                "latest_version": self.latest_version,
                "aliases": dict(self.aliases),
                "card": completeness(None).to_json() if self.card is None else self.card.to_json(),
            }
        else:
            body["targets"] = [dict(t) for t in self.targets]
        return body


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    number: int
    flavor: str
    created_at: datetime
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    card: Completeness

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.number,
            "flavor": self.flavor,
            "created_at": self.created_at.isoformat(),
            "aliases": list(self.aliases),
            "metrics": dict(self.metrics),
            "card": self.card.to_json(),
        }


@dataclass(frozen=True, slots=True)
class CatalogDetail:
    """One entry with what a consumer reads before asking for access: the newest version's card,
    signature and metrics, every version. `stored_example` is the example pushed with the newest
    version (rows of real data, maybe): shown only to those who may read the model."""

    entry: CatalogEntry
    versions: tuple[CatalogVersion, ...] = ()
    card: dict[str, str] | None = None
    signature: Signature | None = None
    stored_example: dict[str, Any] | None = None

    def to_json(self, *, may_read: bool, may_predict: bool) -> dict[str, Any]:
        body = self.entry.to_json()
        if self.entry.kind == "model":
            body |= {
                "versions": [v.to_json() for v in self.versions],
                "card": {
                    "sections": dict(self.card or {}),
                    "headings": dict(SECTIONS),
                    **completeness(self.card).to_json(),
                },
                "metrics": dict(self.versions[-1].metrics) if self.versions else {},
                "signature": None if self.signature is None else self.signature.to_dict(),
                "example_request": self._example(may_read),
            }
        body["access"] = {"may_read": may_read, "may_predict": may_predict}
        return body

    def _example(self, may_read: bool) -> dict[str, Any] | None:
        if may_read and self.stored_example is not None:
            return dict(self.stored_example)
        return None if self.signature is None else synthetic_request(self.signature)


_FILLER: Final[dict[str, Any]] = {"BYTES": "text", "BOOL": False}


def synthetic_request(signature: Signature) -> dict[str, Any]:
    """An OIP request of the right names, types and shapes, one row of placeholder values (0,
    false, "text"): an example to copy that holds no data of the owner's."""
    inputs = []
    for spec in signature.inputs:
        shape = [1 if d < 0 else d for d in spec.shape] or [1]
        size = 1
        for d in shape:
            size *= d
        value = _FILLER.get(spec.datatype, 0.0 if spec.datatype in _FLOATS else 0)
        inputs.append({"name": spec.name, "datatype": spec.datatype, "shape": shape, "data": [value] * size})
    return {"inputs": inputs}


@dataclass(frozen=True, slots=True)
class CatalogPage:
    entries: tuple[CatalogEntry, ...]
    total: int
    """How many entries match (over every page)."""
    facets: dict[str, dict[str, int]]
    """field (team, kind, task, flavor, visibility) -> value -> entries matching."""
    next_cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": [e.to_json() for e in self.entries],
            "total": self.total,
            "facets": {k: dict(v) for k, v in self.facets.items()},
            "next_cursor": self.next_cursor,
        }
