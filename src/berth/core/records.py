"""Prediction records and feedback: what the platform remembers of every answer.

A `PredictionRecord` is what one answered request leaves behind: who answered (endpoint, model,
version, variant), what came in (the inputs as received, and the model's inputs after the
pre-steps when they differ), what went out, how long it took, and the optional entity key that
ties it to a customer. `Feedback` is the ground truth an analyst or a system gives back later for
a prediction id.

Tensors are kept in their JSON form (`TensorJson`: datatype, shape and the flat data list), the
same shape the OIP JSON protocol uses, so a record reads like the request that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

TensorJson = dict[str, Any]
"""One tensor as ``{"datatype": "FP32", "shape": [2, 3], "data": [...]}`` (data flat, row-major)."""

TensorsJson = dict[str, TensorJson]
"""Named tensors, by name, in the order they came."""

FeaturesServed = list[dict[str, Any]]
"""What the ``features`` steps of a request read, one entry per view, the lists one item a row::

    [{"view": "customer-profile", "read_at": 1765000000.12, "keys": ["c-7", "c-9"],
      "outcomes": ["hit", "stale"], "written_at": [1764990000.0, 1764000000.0]}]

``read_at``: unix seconds the store answered (one per view and request); ``keys``: each row's key
(null for a row without one); ``outcomes``: ``hit``, ``miss``, ``stale`` or ``unavailable`` (null
for a row without a key); ``written_at``: unix seconds the value read was written to the store (null
when none was found, the store keeps no time, or it did not answer). A stale row's time is that of
the old value, which was not served (the view's miss policy was)."""

OUTCOMES = ("hit", "miss", "stale", "unavailable")
"""A look-up's outcomes, in `FeaturesServed` and the ``berth_feature_rows_total`` metric."""

MAX_PREDICTION_ID_LENGTH = 128
MAX_ENTITY_KEY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One answered prediction. `shadow_of` is the caller's prediction id when this is the answer
    of a shadow (never returned to the caller); `model_inputs` is None when no pre-step changed
    the inputs (they are `inputs`)."""

    prediction_id: str
    recorded_at: datetime
    endpoint: str
    model: str
    version: int
    variant: str
    inputs: TensorsJson
    outputs: TensorsJson
    latency_s: float
    model_inputs: TensorsJson | None = None
    entity_key: str | None = None
    shadow_of: str | None = None
    record_key: str | None = None
    """The record's identity in a record stream (`record_key`): a record ingested twice under one
    key is stored once. None for records from the local journal, whose positions make them once."""
    features_served: FeaturesServed | None = None
    """What each ``features`` step read per view and row (`FeaturesServed`); None when none ran."""

    @property
    def served_inputs(self) -> TensorsJson:
        """What the model was given: the inputs after the pre-steps (with the feature values a
        ``features`` step read then), or the inputs as received when no pre-step ran."""
        return self.inputs if self.model_inputs is None else self.model_inputs


def record_key(endpoint: str, prediction_id: str, shadow_of: str | None) -> str:
    """A record's key in a record stream: the name called (a model or an endpoint) and the prediction
    id (a shadow's id already names the caller's id and the version that answered,
    ``<id>~<model>:<version>``). Ids are per name called: a caller's own id (the OIP ``id``) can
    collide only with the ids of callers of the same name, never suppress the record of another
    team's model (names hold no ``/``). The ``s:`` and ``p:`` prefixes keep a caller's own id that
    happens to look like a shadow's apart from a shadow's."""
    return f"{'s' if shadow_of is not None else 'p'}:{endpoint}/{prediction_id}"


@dataclass(frozen=True, slots=True)
class Feedback:
    """Ground truth for one prediction: a class label or a numeric value, as of `observed_at`."""

    prediction_id: str
    observed_at: datetime
    label: str | None = None
    value: float | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class EntityFeedback:
    """Ground truth for an entity's latest prediction (per endpoint) made at or before `observed_at`."""

    entity_key: str
    endpoint: str
    observed_at: datetime
    label: str | None = None
    value: float | None = None
    source: str = ""


class FeedbackOutcome(StrEnum):
    STORED = "stored"
    UNKNOWN_PREDICTION = "unknown_prediction"


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """What became of each feedback item, in the order given."""

    outcomes: tuple[tuple[str, FeedbackOutcome], ...]

    @property
    def stored(self) -> int:
        return sum(1 for _, o in self.outcomes if o is FeedbackOutcome.STORED)

    @property
    def unknown(self) -> list[str]:
        return [pid for pid, o in self.outcomes if o is FeedbackOutcome.UNKNOWN_PREDICTION]

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "unknown": self.unknown,
            "results": [{"prediction_id": k, "status": o.value} for k, o in self.outcomes],
        }


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored, with its feedback when some arrived."""

    record: PredictionRecord
    feedback: Feedback | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's view of a record (times in ISO 8601)."""
        r = self.record
        fb = self.feedback
        return {
            "prediction_id": r.prediction_id,
            "recorded_at": r.recorded_at.isoformat(),
            "endpoint": r.endpoint,
            "model": r.model,
            "version": r.version,
            "variant": r.variant,
            "inputs": r.inputs,
            "model_inputs": r.model_inputs,
            "outputs": r.outputs,
            "latency_s": r.latency_s,
            "entity_key": r.entity_key,
            "shadow_of": r.shadow_of,
            "features_served": r.features_served,
            "feedback": None
            if fb is None
            else {
                "label": fb.label,
                "value": fb.value,
                "observed_at": fb.observed_at.isoformat(),
                "source": fb.source,
            },
        }


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Which records to read: every given field narrows; times are [start, end)."""

    endpoint: str | None = None
    model: str | None = None
    version: int | None = None
    variant: str | None = None
    entity_key: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    with_feedback: bool | None = None
    include_shadows: bool = False
    limit: int = 100
    after: str | None = None
    """Cursor: the `next_cursor` of the previous page (records come newest first)."""


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[StoredRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What deleting an entity's data removed."""

    entity_key: str
    records: int
    feedback: int
    export_rows: int = 0
    journal_drained: bool = True
    """False when this host's journal still held lines written before the erasure at its timeout
    (no ingester running): they are dropped, not stored, whenever one ingests them."""

    def to_json(self) -> dict[str, Any]:
        return {
            "entity_key": self.entity_key,
            "records": self.records,
            "feedback": self.feedback,
            "export_rows": self.export_rows,
            "journal_drained": self.journal_drained,
        }


@dataclass(frozen=True, slots=True)
class LabelledPrediction:
    """A prediction joined with its feedback, as monitoring reads it (outputs only)."""

    prediction_id: str
    recorded_at: datetime
    endpoint: str
    model: str
    version: int
    variant: str
    outputs: TensorsJson
    latency_s: float
    label: str | None
    value: float | None


@dataclass(frozen=True, slots=True)
class JournalPosition:
    """How far a journal segment has been ingested: a byte offset just after a complete line."""

    segment: str
    offset: int
    finished: bool = False


@dataclass(frozen=True, slots=True)
class FailedRequest:
    """A request that was not answered (for error rates): what it was for, its error code, when,
    how long it took. Journaled like records; never holds the request's inputs."""

    recorded_at: datetime
    endpoint: str
    model: str
    version: int | None
    variant: str
    code: str
    latency_s: float


@dataclass(slots=True)
class IngestBatch:
    """Records (and failed requests) read from one segment up to `position`, ingested in one
    transaction with it."""

    records: list[PredictionRecord] = field(default_factory=list)
    position: JournalPosition | None = None
    errors: list[FailedRequest] = field(default_factory=list)
