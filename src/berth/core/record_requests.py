"""Request bodies and query parameters of the records and feedback API (server and embedded client)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from berth.core.moments import Moment, parse_moment
from berth.core.records import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_PREDICTION_ID_LENGTH,
    EntityFeedback,
    Feedback,
    RecordQuery,
)

Label = Annotated[str, Field(min_length=1, max_length=256)]


class _Truth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    value: float | None = None
    observed_at: Moment | None = Field(None, description="When the truth was observed (default: now).")
    source: str = Field("", max_length=128, description="Who or what gave it (an analyst, a system).")

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    @model_validator(mode="after")
    def _one_truth(self) -> _Truth:
        if (self.label is None) == (self.value is None):
            raise ValueError("give exactly one of label (classification) or value (regression)")
        return self

    def observed(self) -> datetime:
        return as_utc(self.observed_at) if self.observed_at is not None else datetime.now(UTC)


class FeedbackItem(_Truth):
    prediction_id: str = Field(min_length=1, max_length=MAX_PREDICTION_ID_LENGTH)

    def to_feedback(self) -> Feedback:
        return Feedback(self.prediction_id, self.observed(), self.label, self.value, self.source)


class EntityFeedbackItem(_Truth):
    entity_key: str = Field(min_length=1, max_length=MAX_ENTITY_KEY_LENGTH)
    endpoint: str = Field(min_length=1, max_length=128)

    def to_feedback(self) -> EntityFeedback:
        return EntityFeedback(
            self.entity_key, self.endpoint, self.observed(), self.label, self.value, self.source
        )


class FeedbackBody(BaseModel):
    """Ground truth for predictions by id, or for entities' latest predictions, or both."""

    model_config = ConfigDict(extra="forbid")

    feedback: list[FeedbackItem] = Field(default_factory=list, max_length=10_000)
    entity_feedback: list[EntityFeedbackItem] = Field(default_factory=list, max_length=10_000)


class FeatureJoin(BaseModel):
    """A feature view to join to an export as of each prediction's time (`berth.control.feature_joins`)."""

    model_config = ConfigDict(extra="forbid")

    view: str = Field(min_length=1, max_length=128)
    features: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None, min_length=1, max_length=512, description="default: all the view's"
    )
    key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="the column of each row's key (default: the view's entity)",
    )


class ExportBody(BaseModel):
    """Which records to export (every field narrows), and the feature views to join to them."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(None, max_length=128)
    model: str | None = Field(None, max_length=128)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    variant: str | None = Field(None, max_length=256)
    entity_key: str | None = Field(None, max_length=MAX_ENTITY_KEY_LENGTH)
    start: Moment | None = None
    end: Moment | None = None
    has_feedback: bool | None = None
    include_shadows: bool = False
    join: list[FeatureJoin] = Field(default_factory=list, max_length=16)

    def filters(self) -> dict[str, Any]:
        """The record filters as JSON (without the joins)."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"join"})

    def joins(self) -> list[dict[str, Any]]:
        return [j.model_dump(mode="json") for j in self.join]

    def to_query(self) -> RecordQuery:
        return RecordQuery(
            endpoint=self.endpoint,
            model=self.model,
            version=self.version,
            variant=self.variant,
            entity_key=self.entity_key,
            start=None if self.start is None else as_utc(self.start),
            end=None if self.end is None else as_utc(self.end),
            with_feedback=self.has_feedback,
            include_shadows=self.include_shadows,
        )


def as_utc(moment: datetime) -> datetime:
    """A time with a zone; one without is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 query parameter (``2026-11-21T10:00:00Z``) or a Unix time in seconds, in range
    (`berth.core.moments`); INVALID_REQUEST naming `name` when it is not one."""
    return parse_moment(name, text)
