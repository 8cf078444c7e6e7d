"""Access requests: a principal asks, for one of its teams, for a right on another team's model or
endpoint; an admin of the owning team approves it (an endpoint grant, perhaps expiring) or denies it.

A request is made on what the requester may discover (a discoverable model or endpoint, or one it
already knows); anything else answers exactly as a missing name does. It names the identity (uid)
it was made on: approving it after the name was deleted and taken again is refused
(`ACCESS_REQUEST_STALE`), so a grant never reaches what the owner did not mean. A request the
caller may not see answers exactly as a missing id (`ACCESS_REQUEST_NOT_FOUND`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode

MAX_REASON_CHARS: Final = 2000
"""The longest reason a requester or a decider gives."""
REQUESTABLE_ACTIONS: Final = frozenset({"predict"})
"""What may be asked for: calling the model or endpoint (what an endpoint grant gives)."""


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"

    @classmethod
    def parse(cls, name: str) -> RequestStatus:
        try:
            return cls(str(name).lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"unknown status {str(name)[:40]!r}: use one of {known}"
            ) from None


def check_reason(reason: str, *, required: bool) -> str:
    """A reason, stripped: a string of at most `MAX_REASON_CHARS` (not empty when `required`)."""
    if not isinstance(reason, str):
        raise BerthError(ErrorCode.INVALID_REQUEST, "reason must be a string")
    text = reason.strip()
    if len(text) > MAX_REASON_CHARS:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"a reason is at most {MAX_REASON_CHARS} characters")
    if required and not text:
        raise BerthError(ErrorCode.INVALID_REQUEST, "give a reason")
    return text


def check_action(action: str) -> str:
    if action not in REQUESTABLE_ACTIONS:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"cannot request {str(action)[:40]!r}: use one of {', '.join(sorted(REQUESTABLE_ACTIONS))}",
        )
    return action


def request_not_found(request_id: int) -> BerthError:
    """The answer for a missing request and for one the caller may not see: the same."""
    return BerthError(
        ErrorCode.ACCESS_REQUEST_NOT_FOUND, f"access request {request_id} not found", request=request_id
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRequest:
    id: int
    resource_kind: str
    """model or endpoint"""
    resource_name: str
    owner_team: str
    requester: str
    team: str
    """The team the right is asked for: its predictors may call the target once approved."""
    action: str
    reason: str
    status: RequestStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    grant_expires_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-shaped, as the REST API answers (times in ISO 8601)."""
        return {
            "id": self.id,
            "resource_kind": self.resource_kind,
            "resource_name": self.resource_name,
            "owner_team": self.owner_team,
            "requester": self.requester,
            "team": self.team,
            "action": self.action,
            "reason": self.reason,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
            "decision_reason": self.decision_reason,
            "grant_expires_at": self.grant_expires_at.isoformat() if self.grant_expires_at else None,
        }
