"""Alert webhooks: a JSON POST signed the Standard Webhooks way, retried with exponential back-off.

Every call carries the three headers of https://www.standardwebhooks.com, so a receiver in any
language verifies it with an existing library (Python: ``standardwebhooks.Webhook(secret).verify(
body, headers)``)::

    webhook-id: <the delivery's id: the same on every retry, so a receiver drops duplicates by it>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>

The key is the rule's secret, ``whsec_<base64 of 32 random bytes>``, chosen by berth when the rule
gets a webhook, shown once to its creator and rotatable (docs/alerts.md). A secret of a rule made
before Standard Webhooks (free text) signs with its UTF-8 bytes as the key.

A call goes only where `DestinationPolicy` lets it (public addresses unless allowed), to the address
vetted when it is made; redirects are refused, not followed. Deliveries run in the monitor's own
process, never on a serving path; a receiver that times out or answers 5xx/429 is retried (1 s, 2 s,
4 s, … up to `attempts`), other answers are final. What the monitor keeps, and readers see, is a
generic `Delivery`: delivered or not, attempts, the HTTP status class: never the error itself,
which is logged (with the URL's credentials redacted) for the operator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
import orjson

from berth.control.alerts.destinations import DestinationPolicy, DestinationRefused, redact_url
from berth.core.tracing import OFF, Tracing, failed

if TYPE_CHECKING:
    from opentelemetry.context import Context

log = logging.getLogger(__name__)

ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
EVENT_HEADER: Final = "berth-event"
SECRET_PREFIX: Final = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of `secret`: the bytes a ``whsec_`` secret encodes, else the secret's own bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of `body` sent as `message_id` at `timestamp`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a webhook call ended, as readers may see it."""

    delivered: bool
    attempts: int
    status: int | None
    """The receiver's last HTTP status (None: no answer); only its class is shown."""

    def to_json(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "attempts": self.attempts,
            "status_class": None if self.status is None else f"{self.status // 100}xx",
        }


@dataclass(frozen=True, slots=True)
class WebhookSender:
    """Sends one alert to one URL, with retries. `sleep` is injectable for tests of the schedule."""

    timeout_s: float = 5.0
    attempts: int = 5
    first_backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    policy: DestinationPolicy = field(default_factory=DestinationPolicy)
    tracing: Tracing = OFF
    """With tracing on, each call is a span (continuing `parent`, else a trace of its own) and
    carries its ``traceparent``, so the receiver's work joins the trace."""

    def send(
        self,
        url: str,
        secret: str,
        event: str,
        payload: dict[str, Any],
        *,
        message_id: str,
        parent: Context | None = None,
    ) -> Delivery:
        attributes = {
            "berth.webhook.event": event,
            "berth.webhook.id": message_id,
            "url.full": redact_url(url) or "",
        }
        with self.tracing.background("berth.webhook", parent=parent, attributes=attributes) as span:
            delivery = self._send(url, secret, event, payload, message_id=message_id)
            if span is not None:
                span.set_attribute("berth.webhook.attempts", delivery.attempts)
                if delivery.status is not None:
                    span.set_attribute("http.response.status_code", delivery.status)
                if not delivery.delivered:
                    failed(span, "not delivered")
            return delivery

    def _send(
        self, url: str, secret: str, event: str, payload: dict[str, Any], *, message_id: str
    ) -> Delivery:
        body = orjson.dumps(payload)
        status: int | None = None
        backoff = self.first_backoff_s
        shown = redact_url(url)
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False, trust_env=False) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    target = self.policy.pin(url)  # resolved and vetted for every attempt
                except DestinationRefused as refused:
                    log.warning("webhook %s (%s) refused: %s", message_id, shown, refused)
                    return Delivery(False, attempt, None)
                timestamp = int(time.time())
                headers = {
                    "content-type": "application/json",
                    EVENT_HEADER: event,
                    ID_HEADER: message_id,
                    TIMESTAMP_HEADER: str(timestamp),
                    SIGNATURE_HEADER: sign(secret, message_id, timestamp, body),
                }
                self.tracing.inject(headers)
                try:
                    response = target.request(client, body, headers)
                except httpx.HTTPError as exc:
                    status = None
                    log.info("webhook %s (%s) attempt %d: %s", message_id, shown, attempt, type(exc).__name__)
                else:
                    status = response.status_code
                    if response.is_success:
                        return Delivery(True, attempt, status)
                    log.info("webhook %s (%s) attempt %d: HTTP %d", message_id, shown, attempt, status)
                    if status < 500 and status != 429:  # refused, or a redirect (never followed)
                        return Delivery(False, attempt, status)
                if attempt < self.attempts:
                    self.sleep(backoff)
                    backoff *= 2
        log.warning("webhook %s (%s) not delivered after %d attempts", message_id, shown, self.attempts)
        return Delivery(False, self.attempts, status)
