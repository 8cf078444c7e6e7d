"""Delivery to teams: an endpoint's ``deliver`` declaration, team inbox settings, inbox messages.

An endpoint that declares ``"deliver": {"by": "team", "label": "category"}`` has every answered row
delivered to the inbox of the team its ``team`` answer column names (docs/endpoints.md). How, and
why that way (docs/the-voice.md, "Delivery to teams"):

- **The answer path adds nothing.** An answered prediction is already made durable by its record
  (the journal, or the record stream, before the caller is answered). Its messages are written to
  the inbox table (`inbox_messages`, the outbox) when the record is ingested, in the same database
  transaction as the record itself, keyed by ``<endpoint>/<prediction id>#<row>``: a record
  ingested twice gives its messages once.
- **A background deliverer** (in the monitor process, off every serving path) sends each pending
  message to its team's webhook and/or NATS subject, at least once, under that key (the webhook's
  ``webhook-id`` header; the NATS ``Nats-Msg-Id`` header), and marks it delivered. A failed send is
  retried with exponential back-off (`backoff_s`); after `attempts` it is dead-lettered
  (``status = "dead"``, with the generic reason) and stays visible in the inbox.
- **The inbox is the outbox**: a team reads its messages, acknowledges them, and reroutes one to
  another team; a reroute is a correction, sent as feedback for the prediction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode
from berth.core.security import MAX_TEAM_NAME_LENGTH

MAX_COLUMN_LENGTH: Final = 128
_COLUMN: Final = re.compile(rf"^[A-Za-z_][A-Za-z0-9_.-]{{0,{MAX_COLUMN_LENGTH - 1}}}$")
SUBJECT_PREFIX: Final = "berth.inbox"
"""A team's NATS subject is a name under ``berth.inbox.<STREAM>.`` (the delivery stream takes
``berth.inbox.<STREAM>.>``): a team cannot publish onto another stream's subjects, such as the
record stream's."""
_SUBJECT: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$")
MAX_URL_LENGTH: Final = 2048
_TEAM_NAME: Final = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_TEAM_NAME_LENGTH - 1}}}$")
"""What a team name looks like (`berth.core.security.check_team_name`): other values route nowhere."""
MAX_MESSAGE_BYTES: Final = 64 * 1024
"""A row's message larger than this keeps its answer columns only (inputs dropped)."""

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
STATUSES: Final = (PENDING, DELIVERED, DEAD)
EVENT: Final = "inbox.message"
CORRECTION: Final = "correction"
"""The key of a rerouted copy's body that holds its correction (`InboxMessage.correction`)."""
"""The ``berth-event`` header of a delivered message."""


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_ENDPOINT, message)


@dataclass(frozen=True, slots=True)
class DeliverySpec:
    """An endpoint's ``deliver``: each answered row goes to the inbox of the team named by its
    `by` answer column. `label` names the answer column the model predicts (what a reroute corrects
    through feedback); None when the routing column is itself the model's prediction."""

    by: str
    label: str | None = None

    @classmethod
    def from_json(cls, value: object) -> DeliverySpec:
        if not isinstance(value, Mapping):
            raise _invalid('\'deliver\' must be an object like {"by": "team"}')
        unknown = sorted(str(k) for k in value if k not in ("by", "label"))
        if unknown:
            raise _invalid(f"unknown field {unknown[0]!r} in deliver; allowed: ['by', 'label']")
        by, label = value.get("by"), value.get("label")
        if not isinstance(by, str) or not _COLUMN.match(by):
            raise _invalid(f"deliver.by must name an answer column (the team), got {by!r}")
        if label is not None and (not isinstance(label, str) or not _COLUMN.match(label)):
            raise _invalid(f"deliver.label must name an answer column, got {label!r}")
        return cls(by, None if label == by else label)

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by} if self.label is None else {"by": self.by, "label": self.label}

    @property
    def learns(self) -> str:
        """The answer column a reroute's feedback corrects."""
        return self.label or self.by


def check_subject(subject: str) -> str:
    """A team's NATS subject name: ``<token>[.<token>...]`` (published to
    ``berth.inbox.<STREAM>.<name>``); INVALID_REQUEST otherwise."""
    if not _SUBJECT.match(subject):
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            "a team's NATS subject is a name like 'cards' or 'cards.urgent' (letters, digits, '_' and "
            f"'-'; published under {SUBJECT_PREFIX}.<stream>.), got {subject!r}",
        )
    return subject


def nats_subject(stream: str, name: str) -> str:
    """The subject a team's messages are published to."""
    return f"{SUBJECT_PREFIX}.{stream}.{name}"


def check_webhook_url(url: str) -> str:
    """An http(s) URL without a fragment; INVALID_REQUEST otherwise (where it may go is decided by
    the destination policy, at configuration and at every call)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if (
        len(url) > MAX_URL_LENGTH
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.fragment
    ):
        raise BerthError(ErrorCode.INVALID_REQUEST, "a webhook URL is http(s)://host[:port]/path")
    return url


def backoff_s(attempt: int, first_s: float, max_s: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): first_s, 2x, 4x, ..."""
    return float(min(max_s, first_s * 2 ** min(attempt - 1, 30)))


def message_key(endpoint: str, prediction_id: str, row: int) -> str:
    """The idempotency key of one answered row: the same on every redelivery of it."""
    return f"{endpoint}/{prediction_id}#{row}"


@dataclass(frozen=True, slots=True)
class RoutedRow:
    """One answered row and the team it goes to."""

    row: int
    rows: int
    team: str
    body: dict[str, Any]


def routed_rows(
    delivery: DeliverySpec, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
) -> list[RoutedRow]:
    """The rows of one record (its inputs and answer, in the record form `TensorsJson`), each with
    the team its `by` column names. A row whose answer has no usable team value gets team ''
    (kept, dead-lettered by the deliverer, visible to the endpoint's readers)."""
    routing = outputs.get(delivery.by)
    rows = _rows(routing) if isinstance(routing, Mapping) else _rows(next(iter(outputs.values()), None))
    out: list[RoutedRow] = []
    for i in range(rows):
        answer = {name: _cell(t, i, rows) for name, t in outputs.items()}
        inputs_row = {n: _cell(t, i, rows) for n, t in inputs.items()}
        body: dict[str, Any] = {"answer": answer, "inputs": inputs_row, "by": delivery.by}
        if len(repr(body)) > MAX_MESSAGE_BYTES:
            body = {"answer": answer, "inputs": {}, "by": delivery.by}
        team = answer.get(delivery.by)
        valid = isinstance(team, str) and _TEAM_NAME.match(team) is not None
        out.append(RoutedRow(i, rows, team if valid and isinstance(team, str) else "", body))
    return out


def _rows(tensor: object) -> int:
    if not isinstance(tensor, Mapping):
        return 0
    shape = tensor.get("shape") or []
    return int(shape[0]) if shape else 1


def _cell(tensor: object, row: int, rows: int) -> Any:
    if not isinstance(tensor, Mapping):
        return None
    data = tensor.get("data")
    if not isinstance(data, list) or rows <= 0 or _rows(tensor) != rows:
        return None
    width = len(data) // rows
    if width == 1:
        return data[row]
    return data[row * width : (row + 1) * width]


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One routed row in a team's inbox, with its delivery state."""

    id: int
    key: str
    team: str
    endpoint: str
    prediction_id: str
    row: int
    rows: int
    learns: str
    body: Mapping[str, Any]
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None
    delivered_to: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    rerouted_to: str | None = None
    rerouted_from: str | None = None
    rerouted_by: str | None = None

    def payload(self) -> dict[str, Any]:
        """What a webhook or a NATS subscriber receives (the key is also in the headers)."""
        return {
            "key": self.key,
            "team": self.team,
            "endpoint": self.endpoint,
            "prediction_id": self.prediction_id,
            "row": self.row,
            "created_at": self.created_at.isoformat(),
            "answer": dict(self.body.get("answer", {})),
            "inputs": dict(self.body.get("inputs", {})),
            "rerouted_from": self.rerouted_from,
            "correction": self.correction(),
        }

    def correction(self) -> dict[str, Any] | None:
        """A rerouted copy's correction: the right label and the team it was sent to (the model's
        answer stays as it answered); None for a message as the model routed it."""
        correction = self.body.get(CORRECTION)
        return dict(correction) if isinstance(correction, Mapping) else None

    def to_json(self) -> dict[str, Any]:
        """The API's view."""
        return self.payload() | {
            "id": self.id,
            "learns": self.learns,
            "routed_by": self.body.get("by"),
            "label": (self.correction() or {}).get("label", self.body.get("answer", {}).get(self.learns)),
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.status == PENDING else None,
            "last_error": self.last_error,
            "delivered_at": _iso(self.delivered_at),
            "delivered_to": self.delivered_to,
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "rerouted_to": self.rerouted_to,
            "rerouted_by": self.rerouted_by,
        }


@dataclass(frozen=True, slots=True)
class InboxSettings:
    """Where a team's messages go besides its inbox (the secret is never part of a view)."""

    team: str
    webhook_url: str | None
    webhook_secret: str | None
    nats_subject: str | None
    updated_at: datetime | None = None
    updated_by: str = ""

    def to_json(self) -> dict[str, Any]:
        """Its view, webhook URL as stored (the API shows it without credentials)."""
        return {
            "team": self.team,
            "webhook_url": self.webhook_url,
            "webhook": self.webhook_url is not None,
            "nats_subject": self.nats_subject,
            "updated_at": _iso(self.updated_at),
            "updated_by": self.updated_by,
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
