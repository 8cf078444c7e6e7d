"""Staleness: how old the serving version is, and how old the data it learned from is.

The data's date is the version metadata's ``training_data`` when it starts with an ISO date or
date-time (``"2024-05-31"``, ``"2024-05-31T12:00:00Z s3://bucket/train.parquet"``), else the time
its reference profile was built (an upper bound: the data is at least that old), else unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth.control.monitoring.profile import Profile
from berth.core.entities import Version


@dataclass(frozen=True, slots=True)
class Staleness:
    model: str
    version: int
    created_at: datetime
    version_age_s: float
    data_as_of: datetime | None
    data_age_s: float | None
    data_source: str | None
    """``training_data`` (the metadata's date), ``profile`` (when it was built) or None."""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "version_age_s": self.version_age_s,
            "data_as_of": self.data_as_of.isoformat() if self.data_as_of else None,
            "data_age_s": self.data_age_s,
            "data_source": self.data_source,
        }


def staleness(version: Version, profile: Profile | None = None, *, now: datetime | None = None) -> Staleness:
    now = now or datetime.now(UTC)
    data_as_of, source = _data_date(version.metadata.training_data), "training_data"
    if data_as_of is None and profile is not None:
        data_as_of, source = profile.built_at, "profile"
    return Staleness(
        model=version.model,
        version=version.number,
        created_at=version.created_at,
        version_age_s=max(0.0, (now - version.created_at).total_seconds()),
        data_as_of=data_as_of,
        data_age_s=max(0.0, (now - data_as_of).total_seconds()) if data_as_of else None,
        data_source=source if data_as_of else None,
    )


def _data_date(training_data: str) -> datetime | None:
    head = training_data.strip().split(" ", 1)[0] if training_data.strip() else ""
    for candidate in (head, head[:10]):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
