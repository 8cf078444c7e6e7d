"""A team's inbox, as its members use it: read, acknowledge, reroute (a reroute is a correction).

A reroute moves a message to another team's inbox and sends the right answer as feedback for its
prediction, through the records' feedback (`RecordService.add_feedback`), where the retraining job
finds corrections: the message's ``learns`` column says what the model predicts. When the model
predicts the team itself (``deliver.label`` not set), the new team is the label; otherwise the
rerouter names the right label (for The Voice, the category). Feedback is per prediction: the row of
a prediction that answered several rows is rerouted without feedback, and the answer says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from berth.control.alerts.webhook import new_secret
from berth.control.record_service import RecordService
from berth.core.delivery import InboxSettings, check_subject, check_webhook_url
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import Feedback
from berth.core.security import check_team_name
from berth.storage.sql_inbox import SqlInbox

MAX_LABEL_LENGTH = 256


class InboxService:
    def __init__(self, inbox: SqlInbox, records: RecordService, team_exists: Callable[[str], bool]) -> None:
        self.inbox = inbox
        self._records = records
        self._team_exists = team_exists

    def reroute(self, team: str, message_id: int, to: str, label: str | None, by: str) -> dict[str, Any]:
        check_team_name(to)
        if not self._team_exists(to):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"team {to!r} does not exist", team=to)
        message = self.inbox.get(team, message_id)
        routing = str(message.body.get("by", message.learns))
        if label is None:
            if message.learns != routing:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST,
                    f"this endpoint's model predicts {message.learns!r}: name the right {message.learns} "
                    "(label) with the reroute; it is the correction the next retrain learns from",
                )
            label = to
        if not label or len(label) > MAX_LABEL_LENGTH:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"a label has 1 to {MAX_LABEL_LENGTH} characters")
        old, new = self.inbox.reroute(team, message_id, to, by, label)
        feedback: dict[str, Any]
        if old.rows != 1:
            feedback = {
                "sent": False,
                "reason": f"the prediction answered {old.rows} rows; feedback is per prediction",
            }
        else:
            item = Feedback(
                old.prediction_id, datetime.now(UTC), label=label, source=f"inbox-reroute:{by}"[:255]
            )
            report = self._records.add_feedback([item])
            feedback = {"sent": report.stored == 1, "label": label, "prediction_id": old.prediction_id}
            if report.stored != 1:
                feedback["reason"] = "the prediction's record is gone (erased or purged)"
        return {"message": old.to_json(), "rerouted": new.to_json(), "feedback": feedback}

    def put_settings(
        self,
        team: str,
        *,
        webhook_url: str | None,
        nats_subject: str | None,
        rotate_secret: bool,
        by: str,
        check_destination: Callable[[str], None],
    ) -> dict[str, Any]:
        """Replace `team`'s destinations; a new webhook (or a rotation) gets a new signing secret,
        answered once in ``webhook_secret``."""
        if webhook_url is not None:
            check_destination(check_webhook_url(webhook_url))
        if nats_subject is not None:
            check_subject(nats_subject)
        before = self.inbox.settings(team)
        secret = before.webhook_secret
        fresh = webhook_url is not None and (
            secret is None or rotate_secret or webhook_url != before.webhook_url
        )
        if fresh:
            secret = new_secret()
        stored = self.inbox.put_settings(
            InboxSettings(team, webhook_url, secret if webhook_url is not None else None, nats_subject), by
        )
        return settings_view(stored) | ({"webhook_secret": secret} if fresh else {})


def settings_view(settings: InboxSettings) -> dict[str, Any]:
    """The settings as readers see them: the webhook URL without credentials, never the secret."""
    from berth.control.alerts.destinations import redact_url

    return settings.to_json() | {"webhook_url": redact_url(settings.webhook_url)}
