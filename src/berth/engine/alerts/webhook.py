"""Alert webhooks: a JSON POST signed with HMAC-SHA256, retried with exponential back-off.

The signature lets the receiver check that the call comes from berth and was not replayed:

    berth-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

(the scheme Stripe and GitHub use). A receiver recomputes the HMAC over the timestamp, a dot and
the raw body, compares in constant time (`verify_signature`), and refuses timestamps older than a
few minutes. Deliveries run in the monitor's own process, never on a serving path; a receiver that
times out or answers 5xx/429 is retried (1 s, 2 s, 4 s, … up to `attempts`), other 4xx are final.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

SIGNATURE_HEADER = "berth-signature"
EVENT_HEADER = "berth-event"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a webhook call ended."""

    delivered: bool
    attempts: int
    status: int | None
    error: str

    def to_json(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
        }


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """Whether `header` is a valid signature of `body` made within `tolerance_s` of now."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True, slots=True)
class WebhookSender:
    """Sends one alert to one URL, with retries. `sleep` is injectable for tests of the schedule."""

    timeout_s: float = 5.0
    attempts: int = 5
    first_backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep

    def send(self, url: str, secret: str, event: str, payload: dict[str, Any]) -> Delivery:
        body = orjson.dumps(payload)
        status: int | None = None
        error = ""
        backoff = self.first_backoff_s
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            for attempt in range(1, self.attempts + 1):
                headers = {
                    "content-type": "application/json",
                    EVENT_HEADER: event,
                    SIGNATURE_HEADER: sign(secret, body, int(time.time())),
                }
                try:
                    response = client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"[:500]
                else:
                    status = response.status_code
                    if response.is_success:
                        return Delivery(True, attempt, status, "")
                    error = f"HTTP {status}"
                    if status < 500 and status != 429:
                        return Delivery(False, attempt, status, error)  # the receiver refuses it
                if attempt < self.attempts:
                    self.sleep(backoff)
                    backoff *= 2
        return Delivery(False, self.attempts, status, error)
