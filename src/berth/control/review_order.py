"""The analysts' "needs review" order: the predictions whose correction would teach the model most.

Active learning, computed by the server from what each record holds (no model is called):

- **uncertainty**: one minus the margin between the two largest class probabilities, when a record
  holds ``predict_proba``; else one minus its ``confidence`` (or ``probability``, ``score``), the
  largest probability an endpoint's pipeline kept. A record with neither comes after every scored
  one, newest first.
- **diversity**: records are grouped by the category they were given; the most uncertain record of
  every category comes first (most uncertain first), then the second of every category, and so on.
  The first corrections therefore spread over every category the model answers, instead of
  piling up where it is most confused.

Only records a correction can teach are offered: one row (a batched request's record holds many,
and one label cannot name them all) and no feedback yet. The order is computed over the newest
`REVIEW_WINDOW` records the query selects, and paged by position (the cursor ``review-N``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import StoredRecord

REVIEW_WINDOW: Final = 5_000
"""The newest records (of those the query selects) the order is computed over."""
CATEGORY_OUTPUTS: Final = ("category", "label", "predicted", "prediction", "predict", "class", "output_label")
"""Outputs that hold a record's category, in the order they are looked for (as the web app does)."""
CONFIDENCE_OUTPUTS: Final = ("confidence", "probability", "score")
PROBABILITIES: Final = "predict_proba"
_CURSOR = re.compile(r"^review-(\d{1,9})$")


@dataclass(frozen=True, slots=True)
class Candidate:
    record: StoredRecord
    uncertainty: float | None
    category: str


def _data(tensor: Any) -> list[Any]:
    if not isinstance(tensor, Mapping):
        return []
    data = tensor.get("data")
    return list(data) if isinstance(data, list) else [data]


def _rows(outputs: Mapping[str, Any]) -> int | None:
    """How many rows the record answered (its first output's first dimension)."""
    for tensor in outputs.values():
        shape = tensor.get("shape") if isinstance(tensor, Mapping) else None
        if isinstance(shape, list) and shape and isinstance(shape[0], int):
            return shape[0]
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def uncertainty(outputs: Mapping[str, Any]) -> float | None:
    """1 - (p1 - p2) from ``predict_proba``, else 1 - confidence; None when the record has neither."""
    probabilities = [p for p in (_number(v) for v in _data(outputs.get(PROBABILITIES))) if p is not None]
    if len(probabilities) >= 2:
        top = sorted(probabilities, reverse=True)
        return 1.0 - (top[0] - top[1])
    for name in CONFIDENCE_OUTPUTS:
        values = _data(outputs.get(name))
        confidence = _number(values[0]) if len(values) == 1 else None
        if confidence is not None:
            return 1.0 - confidence
    return None


def category(outputs: Mapping[str, Any]) -> str:
    for name in CATEGORY_OUTPUTS:
        values = _data(outputs.get(name))
        if len(values) == 1:
            return str(values[0])
    return ""


def teachable(stored: StoredRecord) -> bool:
    """No feedback yet, and one row: a correction of it is a training row."""
    return stored.feedback is None and _rows(stored.record.outputs) == 1


def needs_review(records: Iterable[StoredRecord]) -> list[StoredRecord]:
    """`records` (newest first) that a correction can teach, in the "needs review" order."""
    groups: dict[str, list[Candidate]] = {}
    unscored: list[StoredRecord] = []
    for stored in records:
        if not teachable(stored):
            continue
        outputs = stored.record.outputs
        score = uncertainty(outputs)
        if score is None:
            unscored.append(stored)
            continue
        groups.setdefault(category(outputs), []).append(Candidate(stored, score, category(outputs)))
    for members in groups.values():
        members.sort(key=lambda c: -(c.uncertainty or 0.0))  # stable: newest first among equals
    ordered: list[StoredRecord] = []
    rank = 0
    while True:
        tier = [members[rank] for members in groups.values() if rank < len(members)]
        if not tier:
            break
        tier.sort(key=lambda c: -(c.uncertainty or 0.0))
        ordered += [c.record for c in tier]
        rank += 1
    return ordered + unscored


def review_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    match = _CURSOR.match(cursor)
    if match is None:
        raise BerthError(ErrorCode.INVALID_REQUEST, "this cursor is not one of the needs-review order")
    return int(match.group(1))


def review_page(
    ordered: Sequence[StoredRecord], offset: int, limit: int
) -> tuple[list[StoredRecord], str | None]:
    page = list(ordered[offset : offset + limit])
    more = offset + limit < len(ordered)
    return page, f"review-{offset + limit}" if more else None
