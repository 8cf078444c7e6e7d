"""The analysts' corrections: an endpoint's recorded predictions with feedback, the feedback label
as the truth, split into training rows and a gold hold-out.

A correction's row is what the model was given (`PredictionRecord.served_inputs`): the inputs
after the endpoint's pre-steps, so the feature values a ``features`` step read at prediction time
are trained on, not the caller's request without them nor the values the store holds now.

The hold-out is chosen by a hash of the prediction id (sha256, first 8 bytes, modulo 100 below
`holdout_percent`), so a correction stays on its side across runs: a hold-out correction is never
trained on, by any retrain, and the champion and the challenger are judged on the same rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from berth.core.records import RecordPage, RecordQuery
from berth.core.training import Trainer

PAGE_SIZE = 500


class RecordReader(Protocol):
    """The part of the record store the retrain job reads."""

    def query(self, query: RecordQuery) -> RecordPage: ...


@dataclass(slots=True)
class Corrections:
    train_rows: list[Any] = field(default_factory=list)
    train_labels: list[str] = field(default_factory=list)
    holdout_rows: list[Any] = field(default_factory=list)
    holdout_labels: list[str] = field(default_factory=list)
    skipped: int = 0
    """Labelled records the trainer could not use (not one row, or no label)."""
    refused: dict[str, int] = field(default_factory=dict)
    """Why each of those was not used: reason -> how many (the job's result and progress say it)."""

    def refuse(self, reason: str) -> None:
        self.skipped += 1
        self.refused[reason] = self.refused.get(reason, 0) + 1

    @property
    def total(self) -> int:
        return len(self.train_rows) + len(self.holdout_rows)


def in_holdout(prediction_id: str, percent: int) -> bool:
    digest = hashlib.sha256(prediction_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def read_corrections(
    records: RecordReader,
    endpoint: str,
    trainer: Trainer,
    holdout_percent: int,
    on_page: Callable[[int], None] = lambda _: None,
) -> Corrections:
    """Every caller-facing record of `endpoint` with a feedback label (newest feedback wins; one
    prediction id counts once)."""
    found = Corrections()
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        page = records.query(
            RecordQuery(endpoint=endpoint, with_feedback=True, limit=PAGE_SIZE, after=cursor)
        )
        for stored in page.records:
            pid = stored.record.prediction_id
            if pid in seen:
                continue
            seen.add(pid)
            label = stored.feedback.label if stored.feedback is not None else None
            rows = trainer.rows_of(stored.record.served_inputs)
            if label is None:
                found.refuse("feedback without a label (a value only)")
                continue
            if len(rows) != 1:
                found.refuse(
                    "a batched prediction: one label cannot name its rows"
                    if len(rows) > 1
                    else "the trainer finds no training row in the prediction's inputs"
                )
                continue
            if in_holdout(pid, holdout_percent):
                found.holdout_rows.append(rows[0])
                found.holdout_labels.append(label)
            else:
                found.train_rows.append(rows[0])
                found.train_labels.append(label)
        on_page(len(seen))
        cursor = page.next_cursor
        if cursor is None or not page.records:
            return found
