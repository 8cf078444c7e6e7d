"""Deciding which triggers are due: schedules (every N seconds) and corrections (N new feedback items).

Every worker evaluates the triggers on its poll; a due trigger is fired with
`JobStore.fire_if_unchanged`, so when several workers find it due at once exactly one job is
enqueued. A trigger whose last job is still queued or running is not fired (a retrain slower
than the corrections arriving does not pile up rounds): a corrections trigger keeps counting from
its last firing, so it fires at the first poll after that job ends when enough arrived meanwhile.
A corrections trigger counts the feedback received in a closed window, (last firing's mark, now -
`SETTLE_S`], and that window's end is the next mark: a correction is counted once, whether it arrived
while the count ran (counted at the next poll, not twice) or was committed a moment after the time it
was stamped with (feedback is stamped inside its transaction, by the server's clock, which may also
differ a little from the worker's).
Alert triggers are not evaluated here: the alerting code fires them (`JobService.fire_alert`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from berth.core.errors import BerthError
from berth.core.jobs import Job, Trigger
from berth.storage.job_protocols import JobStore

log = logging.getLogger(__name__)

SINCE_KEY = "corrections_since"
"""Where a corrections trigger keeps the time it counts new feedback from (ISO 8601, UTC)."""
SETTLE_S = 2.0
"""Feedback stamped in the last `SETTLE_S` seconds waits for the next poll: time for its transaction
to commit and for the clocks of the server and the worker to disagree."""


class CorrectionsSince(Protocol):
    """How many feedback items (corrections) arrived for `endpoint` after `since` (up to `until`
    included, when given); with `held_since`, none when the endpoint that has the name now was
    created after that moment (another holder)."""

    def __call__(
        self,
        endpoint: str,
        since: datetime,
        *,
        until: datetime | None = None,
        held_since: datetime | None = None,
    ) -> int: ...


class TriggerEvaluator:
    """Fires the schedule and corrections triggers that are due (see the module doc)."""

    def __init__(
        self,
        store: JobStore,
        corrections: CorrectionsSince | None,
        clock: Callable[[], datetime],
    ) -> None:
        """Without `corrections` (no record store), corrections triggers never fire."""
        self._store = store
        self._corrections = corrections
        self._clock = clock

    def evaluate(self) -> list[Job]:
        """Fire what is due now; the jobs this call enqueued."""
        fired = []
        for trigger in self._store.list_triggers():
            if not trigger.spec.enabled:
                continue
            try:
                job = self._evaluate(trigger, self._clock())
            except BerthError as exc:  # one broken trigger must not stop the others
                log.warning("trigger %s: %s", trigger.name, exc.message)
                continue
            if job is not None:
                log.info("trigger %s fired job %d (%s)", trigger.name, job.id, job.reason)
                fired.append(job)
        return fired

    def _evaluate(self, trigger: Trigger, now: datetime) -> Job | None:
        spec = trigger.spec
        if spec.every_s is not None:
            base = trigger.last_fired_at or trigger.created_at
            if base + timedelta(seconds=spec.every_s) <= now:
                reason = f"schedule: every {spec.every_s} s"
                return self._store.fire_if_unchanged(
                    trigger.name, trigger.last_fired_at, reason=reason, state=trigger.state
                )
        if spec.corrections_endpoint is not None and spec.corrections_count and self._corrections:
            since, until = _since(trigger), now - timedelta(seconds=SETTLE_S)
            if until <= since:
                return None
            # the endpoint of that name when the trigger was made, not a later holder of the name
            count = self._corrections(
                spec.corrections_endpoint, since, until=until, held_since=trigger.created_at
            )
            if count >= spec.corrections_count:
                reason = f"{count} new corrections for {spec.corrections_endpoint}"
                state = trigger.state | {SINCE_KEY: until.isoformat()}
                return self._store.fire_if_unchanged(
                    trigger.name, trigger.last_fired_at, reason=reason, state=state
                )
        return None


def _since(trigger: Trigger) -> datetime:
    raw = trigger.state.get(SINCE_KEY)
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    return trigger.created_at
